"""Adding a resource type is one record and one registration (README "Adding a resource
type"): a toy plugin registers boards in buckets and cards on boards, and gets routes,
inherited permissions, ``<child>:create`` permissions, ``GET /permissions`` entries,
change events and the cascade of deletions, with nothing else written for them.

This module is the plugin: its ``includeme`` is what the README shows.
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

from kinto_clone.errors import ValidationError, detail
from kinto_clone.resources.types import ResourceType, Topology, uuid_id
from tests.support import assert_error, auth, userid

ALICE, BOB, CAROL = auth("alice"), auth("bob"), auth("carol")
BOB_ID, CAROL_ID = userid("bob"), userid("carol")


def validate_board(data: dict[str, Any]) -> None:
    if not isinstance(data.get("title", ""), str):
        raise ValidationError([detail("body", "data.title", "Not a string")])


BOARD = ResourceType("board", "boards", "bucket", validate=validate_board)
CARD = ResourceType("card", "cards", "board", generate_id=uuid_id)


def includeme(config: Configurator) -> None:
    from kinto_clone.views.resources import register_resource

    register_resource(config, BOARD)
    register_resource(config, CARD)


PLUGIN = "tests.functional.test_resource_types"
BUCKET = "/v1/buckets/b"
BOARD_URL = f"{BUCKET}/boards/plans"
CARDS = f"{BOARD_URL}/cards"


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    app = make_app(includes=PLUGIN, experimental_permissions_endpoint=True)
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    return app


def test_a_registered_type_has_its_plural_and_object_routes(app: webtest.TestApp) -> None:
    created = app.put_json(BOARD_URL, {"data": {"title": "Q3"}}, headers=ALICE, status=201)
    assert created.json["data"]["title"] == "Q3"
    card = app.post_json(CARDS, {"data": {"text": "ship"}}, headers=ALICE, status=201).json
    assert len(card["data"]["id"]) == 36  # its own id generator: a UUID
    listed = app.get(CARDS, headers=ALICE).json["data"]
    assert [c["id"] for c in listed] == [card["data"]["id"]]
    patched = app.patch_json(
        f"{CARDS}/{card['data']['id']}", {"data": {"done": True}}, headers=ALICE
    ).json["data"]
    assert patched["text"] == "ship" and patched["done"] is True
    assert app.get(f"{BUCKET}/boards", headers=ALICE).json["data"][0]["id"] == "plans"


def test_its_validation_and_id_rules_apply(app: webtest.TestApp) -> None:
    response = app.put_json(BOARD_URL, {"data": {"title": 3}}, headers=ALICE, status=400)
    assert_error(response, 400, 107, "data.title in body: Not a string")
    app.put_json(f"{BUCKET}/boards/bad%20id", {}, headers=ALICE, status=400)
    app.get(f"{BUCKET}/boards/nothing", headers=ALICE, status=404)
    app.get("/v1/buckets/missing/boards", headers=ALICE, status=403)


def test_the_parent_grants_creating_it_and_write_above_grants_everything_below(
    app: webtest.TestApp,
) -> None:
    # Registering boards gave buckets a board:create permission.
    app.patch_json(BUCKET, {"permissions": {"board:create": [BOB_ID]}}, headers=ALICE)
    app.put_json(BOARD_URL, {}, headers=BOB, status=201)
    app.put_json(f"{BUCKET}/collections/c", {}, headers=BOB, status=403)
    # Allowed to create boards there, Bob may read the bucket's attributes.
    app.get(BUCKET, headers=BOB, status=200)
    # The board's creator writes it, and what is in it; Carol gets card:create on it.
    app.patch_json(BOARD_URL, {"permissions": {"card:create": [CAROL_ID]}}, headers=BOB)
    card = app.post_json(CARDS, {"data": {}}, headers=CAROL, status=201).json["data"]
    bobs = app.post_json(CARDS, {"data": {}}, headers=BOB, status=201).json["data"]
    app.get(f"{CARDS}/{bobs['id']}", headers=CAROL, status=403)
    # Bucket writers (Alice) write every card, through two levels of inheritance.
    app.delete(f"{CARDS}/{card['id']}", headers=ALICE, status=200)


def test_an_app_without_the_plugin_knows_no_board(make_app: Any) -> None:
    plain = make_app()
    plain.put_json(BUCKET, {}, headers=ALICE, status=201)
    body = {"permissions": {"board:create": [BOB_ID]}}
    plain.patch_json(BUCKET, body, headers=ALICE, status=400)
    plain.get(f"{BUCKET}/boards", headers=ALICE, status=404)


def test_the_permissions_endpoint_lists_its_objects(app: webtest.TestApp) -> None:
    app.put_json(BOARD_URL, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=201)
    card = app.post_json(CARDS, {"permissions": {"write": [BOB_ID]}}, headers=ALICE).json["data"]
    entries = app.get("/v1/permissions", headers=BOB).json["data"]
    by_uri = {entry["uri"]: entry for entry in entries}
    assert by_uri["/buckets/b/boards/plans"] == {
        "uri": "/buckets/b/boards/plans",
        "resource_name": "board",
        "permissions": ["read", "read:attributes"],  # cards are created in it
        "bucket_id": "b",
        "id": "plans",
        "board_id": "plans",
    }
    card_uri = f"/buckets/b/boards/plans/cards/{card['id']}"
    assert by_uri[card_uri]["resource_name"] == "card"
    assert by_uri[card_uri]["permissions"] == ["read", "write"]
    assert by_uri[card_uri]["board_id"] == "plans"
    assert by_uri[card_uri]["card_id"] == card["id"]
    boards_only = app.get("/v1/permissions?resource_name=board", headers=BOB).json["data"]
    assert [entry["uri"] for entry in boards_only] == ["/buckets/b/boards/plans"]


def test_deleting_a_parent_deletes_what_it_contains(app: webtest.TestApp) -> None:
    app.put_json(BOARD_URL, {}, headers=ALICE, status=201)
    card = app.post_json(CARDS, {"permissions": {"read": [BOB_ID]}}, headers=ALICE).json["data"]
    app.delete(BOARD_URL, headers=ALICE, status=200)
    app.put_json(BOARD_URL, {}, headers=ALICE, status=201)
    assert app.get(CARDS, headers=ALICE).json["data"] == []
    app.get(f"{CARDS}/{card['id']}", headers=ALICE, status=404)
    # The bucket's cascade reaches boards and their cards, and their ACEs.
    app.post_json(CARDS, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=201)
    app.delete(BUCKET, headers=ALICE, status=200)
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.get(BOARD_URL, headers=ALICE, status=404)
    assert [e["uri"] for e in app.get("/v1/permissions", headers=BOB).json["data"]] == ["/"]


def test_a_plural_delete_cascades_too(app: webtest.TestApp) -> None:
    app.put_json(BOARD_URL, {}, headers=ALICE, status=201)
    app.post_json(CARDS, {}, headers=ALICE, status=201)
    deleted = app.delete(f"{BUCKET}/boards", headers=ALICE).json["data"]
    assert [d["id"] for d in deleted] == ["plans"]
    app.put_json(BOARD_URL, {}, headers=ALICE, status=201)
    assert app.get(CARDS, headers=ALICE).json["data"] == []


def test_registration_refuses_an_unknown_parent_or_a_second_record() -> None:
    types = Topology(ResourceType("bucket", "buckets", None), BOARD)
    with pytest.raises(ValueError, match="registered twice"):
        types.add(BOARD)
    with pytest.raises(ValueError, match="unknown parent"):
        types.add(ResourceType("sticker", "stickers", "card"))
    with pytest.raises(ValueError, match="another type"):
        types.add(ResourceType("other", "boards", "bucket"))
