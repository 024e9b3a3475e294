"""``GET /v1/contribute.json``: who we are and how to take part (§1.3).

A static document in the shape of Mozilla's contribute.json (name, description,
repository, participate, bugs, keywords). The API it serves is Kinto's, so its protocol
documentation is Kinto's; the rest is about this project.
"""

from __future__ import annotations

from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

# Where the code lives; the issue tracker and the contribution guide hang off it.
REPOSITORY = "https://github.com/kinto-clone/kinto_clone"

CONTRIBUTE: dict[str, Any] = {
    "name": "kinto_clone",
    "description": "A server of the Kinto HTTP API (v1) that stores, syncs and shares JSON "
    "data with fine-grained permissions, durable on SQLite and scaling out "
    "on PostgreSQL.",
    "repository": {"url": REPOSITORY, "tests": f"{REPOSITORY}/actions"},
    "participate": {
        "home": REPOSITORY,
        "docs": f"{REPOSITORY}#readme",
        "protocol-docs": "https://kinto.readthedocs.io/en/stable/api/",
    },
    "bugs": {"list": f"{REPOSITORY}/issues", "report": f"{REPOSITORY}/issues/new"},
    "keywords": [
        "python",
        "pyramid",
        "cornice",
        "sqlalchemy",
        "postgresql",
        "sqlite",
        "json",
        "http",
        "rest",
        "sync",
        "kinto",
    ],
}

contribute = Service(name="contribute", path="/contribute.json", description="How to contribute")


@contribute.get(permission=NO_PERMISSION_REQUIRED, renderer="kinto_json")
def get_contribute(request: Request) -> dict[str, Any]:
    return CONTRIBUTE


def includeme(config: Configurator) -> None:
    config.add_cornice_service(contribute)
