"""Markers of the demo city's generated chunks, so seeding is idempotent and resumable."""

from __future__ import annotations

from django.db import models


class SeedChunk(models.Model):
    """One generated chunk (e.g. persons 0..9999 of seed 2017), written in the same transaction as its rows."""

    kind = models.CharField(max_length=32)
    seed = models.IntegerField()
    index = models.IntegerField()
    size = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "seed", "index"], name="demo_seedchunk_unique")]

    def __str__(self) -> str:
        return f"{self.kind}#{self.index} (seed {self.seed})"
