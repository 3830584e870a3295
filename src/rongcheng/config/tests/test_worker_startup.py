"""A server worker's start-up (config/wsgi.py): what lives as long as the worker is kept out of the collector's full
collections, whose walks over it paused requests (bench/README.md, "third pass: the collector's pauses")."""

from __future__ import annotations

import gc


def test_a_worker_freezes_its_start_up_objects_and_collects_the_young_less_often() -> None:
    from django.urls import get_resolver

    from rongcheng.config import wsgi

    assert gc.get_freeze_count() > 10_000  # the views and URLconf imported before the freeze, not an empty freeze
    assert gc.get_threshold()[0] == wsgi.YOUNG_COLLECTION_THRESHOLD
    assert get_resolver().url_patterns  # the URLconf was loaded before the freeze, so the first request imports nothing
