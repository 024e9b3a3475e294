"""JSON-schema validation of records, collections and groups (§10.6).

On when ``experimental_collection_schema_validation`` is true; ``main()`` always includes
this module and ``includeme`` does nothing otherwise. It registers one data check
(``events.py``), which runs before every create, replace or patch of an object:

- a record is validated against its collection's ``schema``, then against its bucket's
  ``record:schema``; when the collection has a ``schema`` the record gets
  ``"schema": <collection last_modified>`` (the version it was validated against);
- a collection is validated against its bucket's ``collection:schema``, a group against
  ``group:schema``.

The schemas themselves were checked to be valid JSON Schemas when written
(``resources/types.py``), whether or not this feature is on. A failure is a 400 errno 107
naming the failing field; a ``$ref`` that does not resolve is a 400 naming ``schema``.
Remote ``$ref``s are never fetched (jsonschema >= 4.18 resolves only what the schema
contains), so a schema cannot make the server issue requests.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import jsonschema
from jsonschema.validators import validator_for
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.settings import asbool
from referencing.exceptions import Unresolvable

from kinto_clone.errors import invalid
from kinto_clone.views.root import add_capability

SETTING = "experimental_collection_schema_validation"

# Fields the server manages: never validated, and dropped from a schema's ``required``.
# ``id`` is the exception when a schema declares it in ``properties`` (ids with a pattern).
MANAGED_FIELDS = ("id", "last_modified")
# On records, ``schema`` is written by the server (see above), so a client's value is moot.
RECORD_MANAGED_FIELDS = (*MANAGED_FIELDS, "schema")


# Validators of schemas up to this size (canonical JSON) are kept, 128 at most: building
# one costs more than validating a record, and a collection's records share its schema.
# Bigger ones are rebuilt each time, so the cache stays small whatever clients send.
_CACHED_SCHEMA_MAX_CHARS = 64 * 1024


def _build_validator(canonical_schema: str) -> Any:
    """The class follows the schema's ``$schema`` (the latest draft when absent), as Kinto."""
    schema = json.loads(canonical_schema)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


_cached_validator = functools.lru_cache(maxsize=128)(_build_validator)


def _validator(schema: Mapping[str, Any]) -> Any:
    canonical = json.dumps(schema, sort_keys=True)
    if len(canonical) > _CACHED_SCHEMA_MAX_CHARS:
        return _build_validator(canonical)
    return _cached_validator(canonical)


def _field_name(error: jsonschema.ValidationError) -> str:
    """The field an error is about: the last element of its path, else (an error on the
    object itself) the missing property of a ``required``, else the failing keyword."""
    if error.path:
        return str(error.path[-1])
    if error.validator == "required" and isinstance(error.instance, Mapping):
        # Kinto names the *last* entry of ``required`` whichever is missing (§13.33).
        # We name the one that is: jsonschema reports missing properties in the order of
        # ``required``, and this error is the first one reported.
        for name in error.validator_value:
            if name not in error.instance:
                return str(name)
    return str(error.validator)


def validate(data: Mapping[str, Any], schema: Mapping[str, Any], ignored: tuple[str, ...]) -> None:
    """Raise a 400 ValidationError unless ``data`` validates against ``schema``.

    ``ignored`` fields are left out of the data and of the schema's ``required`` list;
    ``id`` is kept when the schema declares it in ``properties``.
    """
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and "id" in properties:
        ignored = tuple(f for f in ignored if f != "id")
    required = schema.get("required")
    if isinstance(required, list):
        kept = [name for name in required if name not in ignored]
        # An empty ``required`` was invalid before Draft 6; leave the keyword out instead.
        schema = {k: v for k, v in schema.items() if k != "required"}
        if kept:
            schema["required"] = kept
    instance = {k: v for k, v in data.items() if k not in ignored}
    try:
        validator = _validator(schema)
        error = next(iter(validator.iter_errors(instance)), None)
    except Unresolvable as exc:
        raise invalid("body", "schema", str(exc)) from exc
    except jsonschema.SchemaError as exc:  # invalid for the draft named by its $schema
        raise invalid("body", "schema", exc.message) from exc
    if error is not None:
        raise invalid("body", _field_name(error), error.message)


def check_schemas(request: Request, context: Any, data: dict[str, Any]) -> None:
    """The data check: validate ``data`` (about to be written) against its schemas."""
    name = context.resource.name
    if name not in ("record", "collection", "group"):
        return
    instance = dict(data)
    if context.object_id is not None:
        instance.setdefault("id", context.object_id)  # PUT and PATCH know their id
    if name == "group":
        instance.setdefault("members", [])  # as it will be stored
    bucket = context.objects.get("bucket") or {}
    if name == "record":
        collection = context.objects.get("collection") or {}
        if "schema" in collection:
            validate(instance, collection["schema"], RECORD_MANAGED_FIELDS)
        if "record:schema" in bucket:
            validate(instance, bucket["record:schema"], RECORD_MANAGED_FIELDS)
        if "schema" in collection:
            data["schema"] = collection["last_modified"]
    elif f"{name}:schema" in bucket:
        validate(instance, bucket[f"{name}:schema"], MANAGED_FIELDS)


def includeme(config: Configurator) -> None:
    if not asbool(config.registry.settings.get(SETTING)):
        return
    if check_schemas in config.registry.data_checks:
        return  # also named in `kinto.includes`
    config.registry.data_checks.append(check_schemas)
    add_capability(
        config,
        "schema",
        "Records, collections and groups are checked against the "
        "JSON schemas of their collection and bucket.",
        "https://kinto.readthedocs.io/en/latest/api/1.x/collections.html#collection-json-schema",
    )
