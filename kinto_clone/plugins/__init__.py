"""Optional features, each enabled by ``kinto.includes`` and set up by its ``includeme``."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator


def add_capability(config: Configurator, name: str, description: str, url: str,
                   **extra: Any) -> None:
    """Advertise a feature in ``GET /v1/`` under ``capabilities`` (§1.3)."""
    config.registry.capabilities[name] = {"description": description, "url": url, **extra}
