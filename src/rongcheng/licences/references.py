"""How an application reference (the `application_reference` of a licence's use or of a holder's authorization) is
named to people. The licences app does not know the applications of higher tiers: the app that makes a reference
(the service hall: "hall-42") registers a describer at start-up, which names its references for people (the
application's number and service). A reference nobody describes is shown as given (one typed by a holder)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

Describer = Callable[[list[str]], dict[str, str]]
_DESCRIBERS: dict[str, Describer] = {}


def reference_describer_register(prefix: str, describer: Describer) -> None:
    """`describer` names the references that begin with `prefix` (a mapping reference → words)."""
    _DESCRIBERS[prefix] = describer


def references_describe(references: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(references))
    described = {reference: reference for reference in wanted}
    for prefix, describer in _DESCRIBERS.items():
        mine = [reference for reference in wanted if reference.startswith(prefix)]
        if mine:
            described.update(describer(mine))
    return described
