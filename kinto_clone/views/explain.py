"""``GET {object URL}/permissions[?principal=<principal>]``: which permissions a principal
holds on a bucket, group, collection or record, and why (issue 13, ``resources/explain``).

- Anyone may ask about themselves: the answer is computed from the URL and the ACEs that
  name one of their principals, so it tells nothing about objects they cannot see (a
  missing object and an object they hold nothing on get the same answer).
- The object's writers may ask about any principal (``?principal=account:bob``) and see
  ``readers``, who can read it and why. Anyone else asking about another principal gets a
  403 errno 121 (401 when anonymous).
"""

from __future__ import annotations

from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

from kinto_clone import authorization as authz
from kinto_clone.context import RouteContext
from kinto_clone.errors import Forbidden, HTTPError, Unauthorized, invalid
from kinto_clone.resources import explain
from kinto_clone.resources.types import CORE
from kinto_clone.schemas import MAX_PRINCIPAL_LENGTH
from kinto_clone.views.openapi import describe
from kinto_clone.views.openapi_components import data_schema, object_schema, ref, response


def _principals_of(request: Request, principal: str) -> tuple[set[str], dict[str, str]]:
    """A principal's principals as a request of theirs would have them, and which
    member principal makes each group theirs."""
    permission = request.registry.backends.permission
    if principal == authz.EVERYONE:
        return {authz.EVERYONE}, {}
    members = [principal] if principal == authz.AUTHENTICATED else [principal, authz.AUTHENTICATED]
    groups: dict[str, str] = {}
    for member in reversed(members):  # the principal's own membership wins
        groups.update(dict.fromkeys(permission.get_user_principals([member]), member))
    return {authz.EVERYONE, authz.AUTHENTICATED, principal, *groups}, groups


def get_explanation(request: Request) -> Any:
    ctx: RouteContext = request.context
    ctx.load()
    asked = request.GET.get("principal")
    if asked is not None and (not asked.strip() or len(asked) > MAX_PRINCIPAL_LENGTH):
        raise invalid(
            "querystring", "principal", f"A principal of 1 to {MAX_PRINCIPAL_LENGTH} characters"
        )
    settings = request.registry.settings
    name = ctx.resource.name
    caller = request.authenticated_userid
    mine = set(request.principals)
    writer = explain.explain(settings, name, ctx.uris, ctx.acls, mine, caller, {})["write"][
        "granted"
    ]
    if asked is not None and asked != caller and not writer:
        raise _refusal(request)
    subject = asked if asked is not None else caller
    principals: set[str] = {authz.EVERYONE}
    groups: dict[str, str] = {}
    if subject is not None:
        principals, groups = _principals_of(request, subject)
    acls = ctx.acls  # the whole ACLs of the URL's chain, loaded by the route context
    answer: dict[str, Any] = {
        "uri": ctx.uri,
        "principal": subject or authz.EVERYONE,
        "principals": sorted(principals),
        "permissions": explain.explain(settings, name, ctx.uris, acls, principals, subject, groups),
    }
    if writer:
        answer["readers"] = explain.readers(settings, name, ctx.uris, acls)
    return {"data": answer}


def _refusal(request: Request) -> HTTPError:
    error: HTTPError = Unauthorized() if request.authenticated_userid is None else Forbidden()
    error.message = "Only the writers of this object may ask about other principals."
    return error


_REASON = {
    **object_schema(
        {
            "ace": object_schema({"uri": "string", "permission": "string", "principal": "string"}),
            "step": "string",
            "setting": "string",
            "principal": "string",
            "as": "string",
            "member": "string",
        }
    ),
    "description": "An ACE (ace, and step: how it is inherited) or a setting, and how the "
    "principal is the caller's (as; member: who makes a group theirs).",
}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_PERMISSION = object_schema(
    {
        "granted": "boolean",
        "because": {"type": "array", "items": _REASON},
        "granted_by": object_schema(
            {"aces": {"type": "array", "items": {"type": "object"}}, "settings": _STRINGS}
        ),
    }
)
SCHEMAS: dict[str, Any] = {
    "Explanation": data_schema(
        object_schema(
            {
                "uri": "string",
                "principal": "string",
                "principals": _STRINGS,
                "permissions": {"type": "object", "additionalProperties": _PERMISSION},
                "readers": {
                    "type": "object",
                    "description": "Writers only: who can read, and why.",
                    "additionalProperties": {"type": "array", "items": _REASON},
                },
            }
        )
    )
}


def _operation(name: str) -> dict[str, Any]:
    principal = {
        "name": "principal",
        "in": "query",
        "required": False,
        "description": "Another principal (the object's writers only).",
        "schema": {"type": "string"},
    }
    return {
        "GET": {
            "summary": f"Which permissions a principal holds on this {name}, and why",
            "parameters": [principal],
            "responses": {"200": response("The explanation", ref("schemas", "Explanation"))},
        }
    }


def includeme(config: Configurator) -> None:
    for name in CORE:  # Kinto's four types: the inheritance table explained is theirs
        service = Service(
            name=f"{name}:explain",
            path=config.registry.resource_types.path(name) + "/{id}/permissions",
            factory=RouteContext,
            description=f"Which permissions a principal holds on a {name}, and why",
        )
        # Public on purpose: anyone may learn why they may (not) do something; what
        # others may do is for writers only (checked in the view).
        service.add_view(
            "GET", get_explanation, permission=NO_PERMISSION_REQUIRED, renderer="kinto_json"
        )
        config.add_cornice_service(service)
        describe(config, service.name, _operation(name), SCHEMAS)
