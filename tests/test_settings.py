"""Start-up checks of settings that protect a production server (issue 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kinto_clone import settings


def _load(**raw: Any) -> dict[str, Any]:
    return settings.load(raw, environ={})


@pytest.mark.parametrize("secret", ["", settings.SAMPLE_SECRET])
def test_production_refuses_the_sample_or_an_empty_secret(secret: str) -> None:
    with pytest.raises(settings.ConfigurationError, match="userid_hmac_secret"):
        _load(**{"kinto.production": "true", "kinto.userid_hmac_secret": secret})


def test_production_starts_with_a_secret_of_its_own() -> None:
    loaded = _load(**{"kinto.production": "true", "kinto.userid_hmac_secret": "a" * 64})
    assert loaded["production"] is True


def test_the_sample_secret_is_fine_outside_production() -> None:
    assert _load(**{"kinto.userid_hmac_secret": settings.SAMPLE_SECRET})["production"] is False


def test_production_can_be_switched_on_from_the_environment() -> None:
    with pytest.raises(settings.ConfigurationError):
        settings.load(
            {"kinto.userid_hmac_secret": settings.SAMPLE_SECRET},
            environ={"KINTO_PRODUCTION": "true"},
        )


def test_the_shipped_ini_uses_the_sample_secret() -> None:
    # If config/kinto.ini's secret changes, SAMPLE_SECRET must follow it.
    with open(Path(__file__).parent.parent / "config" / "kinto.ini", encoding="utf-8") as f:
        assert settings.SAMPLE_SECRET in f.read()
