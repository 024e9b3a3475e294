"""The querystring of plural endpoints, as pure functions (``kinto-api.md`` §4).

``parse_list_params`` turns ``request.GET.items()`` into a :class:`ListQuery` (filters,
sorting, limit, keyset of the previous page) plus what the view needs for its headers.
``parse_fields`` and ``project_fields`` serve ``_fields``; ``encode_token`` and
``decode_token`` are the two halves of the ``Next-Page`` continuation token.

Nothing here sees a request or a database: the caller passes the clock (``now_ms``) and
the settings, which keeps every rule testable with plain tables of cases.

The package's modules, each one concern: ``values.py`` (JSON values, integers,
timestamps, the 400 errors), ``reserved.py`` (the first pass: typed reserved
parameters), ``params.py`` (the second: filters, sorting, limits, and the result),
``token.py`` (the pagination token), ``projection.py`` (``_fields``). Callers import
what they need from the package itself.
"""

from kinto_clone.resources.querying.params import (
    DEFAULT_SORTING,
    ParsedList,
    UnusableValue,
    check_reserved,
    effective_limit,
    parse_fields,
    parse_list_params,
)
from kinto_clone.resources.querying.projection import project_fields
from kinto_clone.resources.querying.token import decode_token, encode_token
from kinto_clone.resources.querying.values import (
    DELETED_FIELD,
    ID_FIELD,
    MAX_FILTER_DEPTH,
    MAX_LIMIT,
    MODIFIED_FIELD,
    REVOKED_FIELD,
    TIMESTAMP_HORIZON_MS,
    TOKEN_NONCE_PREFIX,
    native_value,
)

__all__ = [
    "DEFAULT_SORTING",
    "DELETED_FIELD",
    "ID_FIELD",
    "MAX_FILTER_DEPTH",
    "MAX_LIMIT",
    "MODIFIED_FIELD",
    "REVOKED_FIELD",
    "TIMESTAMP_HORIZON_MS",
    "TOKEN_NONCE_PREFIX",
    "ParsedList",
    "UnusableValue",
    "check_reserved",
    "decode_token",
    "effective_limit",
    "encode_token",
    "native_value",
    "parse_fields",
    "parse_list_params",
    "project_fields",
]
