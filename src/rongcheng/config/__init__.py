"""Composition root: settings, URLs, the one NinjaAPI. It imports every app; nothing imports it."""
