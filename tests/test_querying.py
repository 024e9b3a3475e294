"""The querystring of plural endpoints (kinto-api.md §4), as tables of cases.

Queries are written as raw ``name=value&...`` strings, not URL-decoded, so that what is
on the page is exactly what the parser receives; cases that need a NUL or an ``&`` pass
the pairs directly.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from kinto_clone.errors import ValidationError
from kinto_clone.resources.querying import (
    MAX_LIMIT,
    TIMESTAMP_HORIZON_MS,
    ParsedList,
    decode_token,
    effective_limit,
    encode_token,
    native_value,
    parse_fields,
    parse_list_params,
    project_fields,
)
from kinto_clone.storage import Filter, Op, Sort

NOW = 1_700_000_000_000
FUTURE = NOW + TIMESTAMP_HORIZON_MS  # the first timestamp a filter refuses
LM = "last_modified"
DEFAULT_SORT = (Sort(LM, descending=True),)

Params = str | list[tuple[str, str]]


def pairs(query: Params) -> list[tuple[str, str]]:
    if not isinstance(query, str):
        return query
    if not query:
        return []
    result: list[tuple[str, str]] = []
    for item in query.split("&"):
        name, _, value = item.partition("=")
        result.append((name, value))
    return result


def parse(query: Params = "", **kwargs: Any) -> ParsedList:
    kwargs.setdefault("now_ms", NOW)
    kwargs.setdefault("paginate_by", None)
    kwargs.setdefault("max_fetch_size", 10_000)
    return parse_list_params(pairs(query), **kwargs)


def error_body(query: Params, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        parse(query, **kwargs)
    return caught.value.body()


def assert_querystring_error(
    body: dict[str, Any], name: str | None, description: str, message: str
) -> None:
    assert body == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message,
        "details": [{"location": "querystring", "name": name, "description": description}],
    }


def make_token(payload: Any) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


# ---------------------------------------------------------------------------------------
# native values


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        ("-7", -7),
        ("1.5", 1.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ('"3"', "3"),
        ("abc", "abc"),
        ("", ""),
        ("[1,2]", [1, 2]),
        ('{"a":1}', {"a": 1}),
        (" 2 ", 2),
        ("12345678901234567890", 12345678901234567890),
        ('"unterminated', '"unterminated'),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("1e400", "1e400"),
        ("[1e400]", "[1e400]"),
        ("TRUE", "TRUE"),
        ("007", "007"),
        ("-0", 0),
        ("+1", "+1"),
        ("999999999999999999", 999999999999999999),
        ("9" * 5000, "9" * 5000),  # past Python's digit limit: kept as text, no error
    ],
)
def test_a_value_is_read_as_json_when_it_parses_and_kept_as_a_string_otherwise(
    raw: str, expected: Any
) -> None:
    value = native_value(raw)
    assert value == expected
    assert type(value) is type(expected)


# ---------------------------------------------------------------------------------------
# filters


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("n=1", Filter("n", 1)),
        ("n=1.5", Filter("n", 1.5)),
        ('n="3"', Filter("n", "3")),
        ("n=abc", Filter("n", "abc")),
        ("n=true", Filter("n", True)),
        ("n=null", Filter("n", None)),
        ("n=", Filter("n", "")),
        ('n={"a":1}', Filter("n", {"a": 1})),
        ("author.name=Ann", Filter("author.name", "Ann")),
        ("eq_n=1", Filter("n", 1, Op.EQ)),
        ("not_n=1", Filter("n", 1, Op.NOT)),
        ("lt_n=5", Filter("n", 5, Op.LT)),
        ("gt_n=5", Filter("n", 5, Op.GT)),
        ("min_n=5", Filter("n", 5, Op.MIN)),
        ("max_n=5", Filter("n", 5, Op.MAX)),
        ("in_n=1,2,5", Filter("n", [1, 2, 5], Op.IN)),
        ('in_n="a",b,3,null', Filter("n", ["a", "b", 3, None], Op.IN)),
        ("in_n=", Filter("n", [""], Op.IN)),
        ("exclude_n=1,x", Filter("n", [1, "x"], Op.EXCLUDE)),
        ("like_title=*ann*", Filter("title", "*ann*", Op.LIKE)),
        ('like_title="3"', Filter("title", "3", Op.LIKE)),
        ("has_n=true", Filter("n", True, Op.HAS)),
        ("has_n=0", Filter("n", 0, Op.HAS)),
        ("contains_tags=a", Filter("tags", ["a"], Op.CONTAINS)),
        ("contains_tags=a,b", Filter("tags", ["a,b"], Op.CONTAINS)),
        ('contains_tags=["a","b"]', Filter("tags", ["a", "b"], Op.CONTAINS)),
        ("contains_tags=null", Filter("tags", [None], Op.CONTAINS)),
        ("contains_any_tags=1", Filter("tags", [1], Op.CONTAINS_ANY)),
        ("contains_any_tags=[1,2]", Filter("tags", [1, 2], Op.CONTAINS_ANY)),
        ("contains_anything=1", Filter("anything", [1], Op.CONTAINS)),
        ("in_stock=1", Filter("stock", [1], Op.IN)),
        ("eq_in_stock=1", Filter("in_stock", 1, Op.EQ)),
        ("not_in_x=1", Filter("in_x", 1, Op.NOT)),
        ("gt_author.age=30", Filter("author.age", 30, Op.GT)),
        ("weird-name=1", Filter("weird-name", 1)),
        ("gt_a-b=1", Filter("gt_a-b", 1)),
        ("unknownop_n=1", Filter("unknownop_n", 1)),
        (" n =1", Filter("n", 1)),
        ('id="123"', Filter("id", "123")),
        ("id=abc", Filter("id", "abc")),
        ('in_id="123",abc', Filter("id", ["123", "abc"], Op.IN)),
        ("exclude_id=a,b", Filter("id", ["a", "b"], Op.EXCLUDE)),
        ("not_id=abc", Filter("id", "abc", Op.NOT)),
        ("gt_id=abc", Filter("id", "abc", Op.GT)),
        ("like_id=ab*", Filter("id", "ab*", Op.LIKE)),
        ("has_id=false", Filter("id", False, Op.HAS)),
        (f"last_modified={NOW}", Filter(LM, NOW)),
        (f'last_modified="{NOW}"', Filter(LM, NOW)),
        ("gt_last_modified=0", Filter(LM, 0, Op.GT)),
        ('lt_last_modified="42"', Filter(LM, 42, Op.LT)),
        (f"max_last_modified={FUTURE - 1}", Filter(LM, FUTURE - 1, Op.MAX)),
        ("in_last_modified=1,2", Filter(LM, [1, 2], Op.IN)),
        ("exclude_last_modified=3", Filter(LM, [3], Op.EXCLUDE)),
        ("has_last_modified=1", Filter(LM, 1, Op.HAS)),
    ],
)
def test_a_filter_parameter_becomes_one_filter(query: str, expected: Filter) -> None:
    assert parse(query).query.filters == (expected,)


@pytest.mark.parametrize(
    "query",
    ["_foo=1", "_=x", "__proto__=1", "_limit=5", "_token=", "_sort=a", "_fields=a", " _x =1"],
)
def test_other_parameters_starting_with_an_underscore_are_not_filters(query: str) -> None:
    assert parse(query).query.filters == ()


@pytest.mark.parametrize(
    "query", ["last_modified=", "_since=", "_before=", "_to=", "_since=[]", '_before=""']
)
def test_an_empty_timestamp_parameter_is_an_invalid_value_never_everything(query: str) -> None:
    name = query.split("=")[0]
    assert_querystring_error(
        error_body(query), name, f"Invalid value for {name}", f"Invalid value for {name}"
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("id=", Filter("id", "")),
        ("id=null", Filter("id", [], Op.IN)),
        ("id=0", Filter("id", [], Op.IN)),
        ("id=[]", Filter("id", [], Op.IN)),
    ],
)
def test_an_empty_id_filters_on_the_empty_id_and_a_null_one_matches_nothing(
    query: str, expected: Filter
) -> None:
    assert parse(query).query.filters == (expected,)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("_since=1.5", Filter(LM, 1, Op.GT)),
        ("_before=2.9", Filter(LM, 2, Op.LT)),
        ("_since=1e3", Filter(LM, 1000, Op.GT)),
        ("_since=-0.5", Filter(LM, 0, Op.GT)),
        ("last_modified=1.5", Filter(LM, 1)),
        ("lt_last_modified=1.5", Filter(LM, 1, Op.LT)),
        ('_since="7"', Filter(LM, 7, Op.GT)),
    ],
)
def test_a_number_with_a_fraction_is_truncated_as_kinto_does(query: str, expected: Filter) -> None:
    assert parse(query).query.filters == (expected,)


def test_filters_keep_the_order_of_the_querystring() -> None:
    parsed = parse("b=1&_since=5&a=2")
    assert parsed.query.filters == (Filter("b", 1), Filter(LM, 5, Op.GT), Filter("a", 2))


def test_a_repeated_parameter_keeps_its_first_position_and_is_the_list_of_its_values() -> None:
    # As Kinto's schema reads it (FINDINGS F16): the list as sent, never one of them.
    parsed = parse("n=1&m=2&n=3")
    assert parsed.query.filters == (Filter("n", ["1", "3"]), Filter("m", 2))


def test_names_that_differ_only_by_surrounding_whitespace_are_the_same_parameter() -> None:
    assert parse("n=1& n =2").query.filters == (Filter("n", ["1", "2"]),)


def test_a_value_with_an_ampersand_or_equals_sign_is_kept_whole() -> None:
    assert parse([("title", "a&b=c")]).query.filters == (Filter("title", "a&b=c"),)


def test_without_string_ids_an_id_filter_keeps_its_native_value() -> None:
    parsed = parse("id=123&in_id=1,2&not_id=3", id_field_is_string=False)
    assert parsed.query.filters == (
        Filter("id", 123),
        Filter("id", [1, 2], Op.IN),
        Filter("id", 3, Op.NOT),
    )


# ---------------------------------------------------------------------------------------
# polling: _since, _before, _to


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("_since=5", Filter(LM, 5, Op.GT)),
        ('_since="5"', Filter(LM, 5, Op.GT)),
        ("_since=0", Filter(LM, 0, Op.GT)),
        (f"_since={FUTURE - 1}", Filter(LM, FUTURE - 1, Op.GT)),
        ("_before=5", Filter(LM, 5, Op.LT)),
        ('_before="5"', Filter(LM, 5, Op.LT)),
        ("_to=5", Filter(LM, 5, Op.LT)),
    ],
)
def test_polling_parameters_are_filters_on_last_modified(query: str, expected: Filter) -> None:
    assert parse(query).query.filters == (expected,)


@pytest.mark.parametrize("query", ["_since=null", "_before=null", "_to=null"])
def test_a_null_polling_parameter_gives_a_filter_that_matches_nothing(query: str) -> None:
    # Kinto compares with SQL NULL, which no row satisfies; IN () says so to any backend.
    assert parse(query).query.filters == (Filter(LM, [], Op.IN),)


@pytest.mark.parametrize(
    ("query", "deprecated"),
    [("_to=5", True), ("_to=null", True), ("_before=5", False), ("", False)],
)
def test_the_deprecated_to_parameter_is_reported_for_the_alert_header(
    query: str, deprecated: bool
) -> None:
    assert parse(query).deprecated_to is deprecated


@pytest.mark.parametrize(
    ("query", "include_deleted"),
    [
        ("_since=1", True),
        ("_before=1", True),
        ("_to=1", True),
        ("_since=null", True),
        ("last_modified=1", True),
        ("gt_last_modified=1", True),
        ("in_last_modified=1,2", True),
        ("not_last_modified=1", True),
        ("n=1", False),
        ("deleted=true", False),
        ("last_modified.x=1", False),
        ("", False),
    ],
)
def test_any_filter_on_last_modified_makes_tombstones_visible(
    query: str, include_deleted: bool
) -> None:
    assert parse(query).query.include_deleted is include_deleted


# ---------------------------------------------------------------------------------------
# filter errors


# Kinto words the message "<name> in querystring: <description>" unless the name occurs
# inside the description, in which case the description is the message (§5.1).

NOT_ARRAY_LM = "Field 'last_modified' is not an array"


@pytest.mark.parametrize(
    ("query", "name", "description"),
    [
        # Schema-typed parameters that are not integers at all.
        ("_since=true", "_since", '"true" is not a number'),
        ("_since=abc", "_since", '"abc" is not a number'),
        ('_since="1.5"', "_since", '"1.5" is not a number'),
        ("_since= ", "_since", '" " is not a number'),
        # Below the minimum (a fraction is truncated first).
        ("_since=-1", "_since", "-1 is less than minimum value 0"),
        ('_since="-1"', "_since", "-1 is less than minimum value 0"),
        ("_before=-5", "_before", "-5 is less than minimum value 0"),
        ("_to=-1.5", "_to", "-1 is less than minimum value 0"),
        ("last_modified=-1", LM, "-1 is less than minimum value 0"),
        ("_since=[1]", "_since", '"[1]" is not a number'),
        ("_before=false", "_before", '"false" is not a number'),
        ("_to=x", "_to", '"x" is not a number'),
        ("last_modified=abc", LM, '"abc" is not a number'),
        ("last_modified=true", LM, '"true" is not a number'),
        # Managed fields are never arrays.
        ("contains_id=a", "contains_id", "Field 'id' is not an array"),
        ("contains_any_id=a", "contains_any_id", "Field 'id' is not an array"),
        ("contains_last_modified=1", "contains_last_modified", NOT_ARRAY_LM),
        ("contains_any_last_modified=1", "contains_any_last_modified", NOT_ARRAY_LM),
    ],
)
def test_an_invalid_filter_is_a_400_whose_message_prefixes_the_parameter(
    query: str, name: str, description: str
) -> None:
    message = f"{name} in querystring: {description}"
    assert_querystring_error(error_body(query), name, description, message)


def invalid_value(param: str) -> tuple[str, str]:
    return param, f"Invalid value for {param}"


@pytest.mark.parametrize(
    ("query", "name", "description"),
    [
        # Integers that are not acceptable timestamps.
        (f"_since={FUTURE}", *invalid_value("_since")),
        (f"_to={FUTURE}", *invalid_value("_to")),
        ("last_modified=null", *invalid_value(LM)),
        (f"last_modified={FUTURE}", *invalid_value(LM)),
        ("gt_last_modified=abc", *invalid_value("gt_last_modified")),
        ("gt_last_modified=true", *invalid_value("gt_last_modified")),
        ("lt_last_modified=-1.5", *invalid_value("lt_last_modified")),
        ("min_last_modified=null", *invalid_value("min_last_modified")),
        (f"max_last_modified={FUTURE}", *invalid_value("max_last_modified")),
        ("has_last_modified=true", *invalid_value("has_last_modified")),
        ("like_last_modified=1*", *invalid_value("like_last_modified")),
        ("in_last_modified=1,a", *invalid_value("in_last_modified")),
        ('in_last_modified="1",2', *invalid_value("in_last_modified")),
        ("in_last_modified=1,true", *invalid_value("in_last_modified")),
        (f"exclude_last_modified=1,{FUTURE}", *invalid_value("exclude_last_modified")),
        # Ids are strings.
        ("id=123", "id", "123 is not a string: {'id': ''}"),
        ("id=true", "id", "True is not a string: {'id': ''}"),
        ("in_id=1,2", *invalid_value("in_id")),
        ("exclude_id=abc,3", *invalid_value("exclude_id")),
        ("not_id=3", *invalid_value("not_id")),
        ("eq_id=3", *invalid_value("eq_id")),
        ("min_id=null", *invalid_value("min_id")),
        # like_ needs a string.
        ("like_n=3", *invalid_value("like_n")),
        ("like_n=null", *invalid_value("like_n")),
        ('like_n=["a"]', *invalid_value("like_n")),
        ("like_id=3", *invalid_value("like_id")),
    ],
)
def test_an_invalid_filter_is_a_400_whose_message_is_the_description(
    query: str, name: str, description: str
) -> None:
    assert_querystring_error(error_body(query), name, description, description)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ([("title", "a\x00b")], "title"),
        ([("a\x00", "1")], "a\x00"),
        ([("title", '"a\\u0000"')], "title"),
        ([("title", '["ok", {"k": "\\u0000"}]')], "title"),
        ([("title", '{"\\u0000": 1}')], "title"),
        ([("in_title", "a,b\x00")], "in_title"),
        ([("contains_tags", '["\\u0000"]')], "contains_tags"),
        ([("like_title", "*\x00*")], "like_title"),
    ],
)
def test_a_nul_character_in_a_filter_name_or_value_is_a_400(
    params: list[tuple[str, str]], name: str
) -> None:
    body = error_body(params)
    assert body["details"] == [
        {"location": "querystring", "name": name, "description": "Invalid character 0x00"}
    ]
    assert body["message"] == f"{name} in querystring: Invalid character 0x00"


@pytest.mark.parametrize("name", ["n", "id", "a"])
def test_a_name_found_inside_the_description_makes_the_description_the_message(
    name: str,
) -> None:
    # The heuristic of §5.1 is a substring test: "n", "id", "a" occur in "Invalid char...".
    body = error_body([(name, "\x00")])
    assert body["details"][0]["name"] == name
    assert body["message"] == "Invalid character 0x00"


def test_every_schema_error_is_reported_at_once_sorted_by_name() -> None:
    body = error_body("id=1&_since=x&_limit=abc&last_modified=y")
    assert [d["name"] for d in body["details"]] == ["_limit", "_since", "id", LM]
    assert body["message"] == '_limit in querystring: "abc" is not a number'


def test_schema_errors_are_reported_before_filter_errors() -> None:
    body = error_body("like_n=3&_since=x")
    assert [d["name"] for d in body["details"]] == ["_since"]


def test_the_first_invalid_filter_in_querystring_order_is_reported() -> None:
    body = error_body("like_b=3&like_a=3")
    assert [d["name"] for d in body["details"]] == ["like_b"]


# ---------------------------------------------------------------------------------------
# strict schemas (history, permissions)

KNOWN = frozenset({"uri", "resource_name", "target"})


@pytest.mark.parametrize(
    "query",
    [
        "uri=/buckets/b",
        "in_resource_name=bucket,record",
        "target.data.title=x",
        "id=abc",
        "last_modified=5",
        "_since=5",
        "_foo=1",
        "_sort=-uri,target.data.n,last_modified",
        "_fields=uri,target.data,id",
    ],
)
def test_a_strict_schema_accepts_its_fields_and_the_managed_ones(query: str) -> None:
    parse(query, known_fields=KNOWN)


@pytest.mark.parametrize(
    ("query", "name", "description", "message"),
    [
        ("foo=1", "foo", "Unknown filter field 'foo'", "Unknown filter field 'foo'"),
        ("gt_foo=1", "gt_foo", "Unknown filter field 'gt_foo'", "Unknown filter field 'gt_foo'"),
        (
            "foo.uri=1",
            "foo.uri",
            "Unknown filter field 'foo.uri'",
            "Unknown filter field 'foo.uri'",
        ),
        (
            "_sort=foo",
            "_sort",
            "Unknown sort field 'foo'",
            "_sort in querystring: Unknown sort field 'foo'",
        ),
        (
            "_sort=uri,-foo",
            "_sort",
            "Unknown sort field 'foo'",
            "_sort in querystring: Unknown sort field 'foo'",
        ),
        (
            "_fields=foo,uri,bar,foo",
            "Invalid _fields parameter",
            "Fields foo,bar do not exist",
            "Invalid _fields parameter in querystring: Fields foo,bar do not exist",
        ),
    ],
)
def test_a_strict_schema_rejects_unknown_names(
    query: str, name: str, description: str, message: str
) -> None:
    assert_querystring_error(error_body(query, known_fields=KNOWN), name, description, message)


def test_a_schemaless_resource_accepts_any_field_name() -> None:
    parsed = parse("foo=1&_sort=bar&_fields=baz")
    assert parsed.query.filters == (Filter("foo", 1),)
    assert parsed.query.sorting[0] == Sort("bar")
    assert parsed.fields == ("baz",)


# ---------------------------------------------------------------------------------------
# sorting


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", DEFAULT_SORT),
        ("_sort=", DEFAULT_SORT),
        ("_sort=-", DEFAULT_SORT),
        ("_sort=,,", DEFAULT_SORT),
        ("_sort=title", (Sort("title"), *DEFAULT_SORT)),
        ("_sort=-title,+n,x", (Sort("title", True), Sort("n"), Sort("x"), *DEFAULT_SORT)),
        ("_sort=author.name", (Sort("author.name"), *DEFAULT_SORT)),
        ("_sort=-last_modified", DEFAULT_SORT),
        ("_sort=last_modified", (Sort(LM),)),
        ("_sort=last_modified,title", (Sort(LM), Sort("title"))),
        ("_sort=title,+last_modified", (Sort("title"), Sort(LM))),
        ("_sort=a b,c", (Sort("c"), *DEFAULT_SORT)),
        ("_sort=--a,+-b,a-b,c", (Sort("c"), *DEFAULT_SORT)),
        ("_sort= a", DEFAULT_SORT),
        ("_sort=a\n,b", (Sort("b"), *DEFAULT_SORT)),
        ("_sort=x&_sort=y", (Sort("x"), Sort("y"), *DEFAULT_SORT)),
    ],
)
def test_sort_items_are_parsed_and_last_modified_breaks_ties(
    query: str, expected: tuple[Sort, ...]
) -> None:
    assert parse(query).query.sorting == expected


# ---------------------------------------------------------------------------------------
# limit


@pytest.mark.parametrize(
    ("query", "paginate_by", "max_fetch_size", "expected"),
    [
        ("", None, 10_000, 10_000),
        ("_limit=5", None, 10_000, 5),
        ('_limit="5"', None, 10_000, 5),
        ("_limit=0", None, 10_000, 10_000),
        ("_limit=null", None, 10_000, 10_000),
        ("_limit=", None, 10_000, 10_000),
        ("_limit=20000", None, 10_000, 10_000),
        (f"_limit={MAX_LIMIT}", None, 10_000, 10_000),
        ("", 3, 10_000, 3),
        ("_limit=100", 3, 10_000, 3),
        ("_limit=2", 3, 10_000, 2),
        ("_limit=0", 3, 10_000, 3),
        ("", 50, 10, 10),
        ("_limit=20", 50, 10, 10),
        ("_limit=7", 0, 10_000, 7),
        ("", 0, 10_000, 10_000),
    ],
)
def test_the_effective_limit_is_the_smallest_of_limit_paginate_by_and_max_fetch_size(
    query: str, paginate_by: int | None, max_fetch_size: int, expected: int
) -> None:
    parsed = parse(query, paginate_by=paginate_by, max_fetch_size=max_fetch_size)
    assert parsed.limit == expected
    assert parsed.query.limit == expected


def test_effective_limit_can_be_computed_alone() -> None:
    assert effective_limit(None, None, 10_000) == 10_000
    assert effective_limit(100, 3, 10_000) == 3


@pytest.mark.parametrize(
    ("query", "description"),
    [
        ("_limit=abc", '"abc" is not a number'),
        ("_limit=true", '"true" is not a number'),
        ("_limit=-1.5", "-1 is less than minimum value 0"),
        ("_limit=[1]", '"[1]" is not a number'),
        ('_limit="a"', '"a" is not a number'),
        ("_limit=-1", "-1 is less than minimum value 0"),
        ('_limit="-3"', "-3 is less than minimum value 0"),
        (f"_limit={MAX_LIMIT + 1}", f"{MAX_LIMIT + 1} is greater than maximum value {MAX_LIMIT}"),
    ],
)
def test_an_invalid_limit_is_a_400(query: str, description: str) -> None:
    assert_querystring_error(
        error_body(query), "_limit", description, f"_limit in querystring: {description}"
    )


# ---------------------------------------------------------------------------------------
# _fields


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", None),
        ("_fields=", None),
        ("_fields=,", None),
        ("_fields=title", ("title",)),
        ("_fields=a,b", ("a", "b")),
        ("_fields=a,,b", ("a", "b")),
        ("_fields=author.name,id", ("author.name", "id")),
        ("_fields=a&_fields=b", ("a", "b")),
    ],
)
def test_fields_is_a_comma_separated_list(query: str, expected: tuple[str, ...] | None) -> None:
    assert parse(query).fields == expected
    assert parse_fields(pairs(query)) == expected


def test_object_fields_are_checked_against_a_strict_schema() -> None:
    assert parse_fields([("_fields", "uri,id")], KNOWN) == ("uri", "id")
    with pytest.raises(ValidationError) as caught:
        parse_fields([("_fields", "nope")], KNOWN)
    assert caught.value.details == [
        {
            "location": "querystring",
            "name": "Invalid _fields parameter",
            "description": "Fields nope do not exist",
        }
    ]


OBJECT = {
    "id": "r1",
    "last_modified": 10,
    "title": "hello",
    "n": None,
    "author": {"name": "Ann", "age": 30, "address": {"city": "Paris", "zip": "75"}},
    "tags": ["a"],
    "deleted": False,
}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ((), {"id": "r1", "last_modified": 10}),
        (("title",), {"id": "r1", "last_modified": 10, "title": "hello"}),
        (("n",), {"id": "r1", "last_modified": 10, "n": None}),
        (("missing",), {"id": "r1", "last_modified": 10}),
        (("author.name",), {"id": "r1", "last_modified": 10, "author": {"name": "Ann"}}),
        (
            ("author.name", "author.age"),
            {"id": "r1", "last_modified": 10, "author": {"name": "Ann", "age": 30}},
        ),
        (
            ("author.address.city", "author.name"),
            {
                "id": "r1",
                "last_modified": 10,
                "author": {"address": {"city": "Paris"}, "name": "Ann"},
            },
        ),
        (("author", "author.name"), {"id": "r1", "last_modified": 10, "author": OBJECT["author"]}),
        (("author.name", "author"), {"id": "r1", "last_modified": 10, "author": OBJECT["author"]}),
        (("author.missing",), {"id": "r1", "last_modified": 10}),
        (("title.length",), {"id": "r1", "last_modified": 10}),
        (("tags.0",), {"id": "r1", "last_modified": 10}),
        (("deleted",), {"id": "r1", "last_modified": 10, "deleted": False}),
        (("id", "last_modified"), {"id": "r1", "last_modified": 10}),
    ],
)
def test_a_projection_keeps_the_managed_fields_and_the_requested_ones(
    fields: tuple[str, ...], expected: dict[str, Any]
) -> None:
    assert project_fields(OBJECT, fields) == expected


def test_a_projection_never_modifies_the_object() -> None:
    source = copy.deepcopy(OBJECT)
    project_fields(source, ("author", "author.address.city", "author.name"))
    project_fields(source, ("author.name", "author.address.city", "author"))
    assert source == OBJECT


def test_a_projected_tombstone_keeps_its_deleted_marker() -> None:
    tombstone = {"id": "r1", "last_modified": 10, "deleted": True}
    assert project_fields(tombstone, ("title",)) == tombstone


def test_a_live_object_with_a_deleted_field_is_not_a_tombstone() -> None:
    live = {"id": "r1", "last_modified": 10, "deleted": True, "title": "x"}
    assert project_fields(live, ("title",)) == {"id": "r1", "last_modified": 10, "title": "x"}


# ---------------------------------------------------------------------------------------
# pagination token

SORTING = (Sort("title"), Sort(LM, descending=True))


def test_a_token_is_padded_standard_base64_of_the_keyset_offset_and_nonce() -> None:
    token = encode_token({"id": "r", "last_modified": 5, "title": "one", "x": 1}, SORTING, 3)
    payload = json.loads(base64.b64decode(token, validate=True))
    assert payload["last_object"] == {"title": "one", "last_modified": 5}
    assert payload["offset"] == 3
    assert payload["nonce"].startswith("pagination-token-")
    assert len(payload["nonce"]) == len("pagination-token-") + 36
    assert len(token) % 4 == 0


def test_a_token_uses_the_given_nonce_and_a_fresh_one_otherwise() -> None:
    obj = {"last_modified": 5}
    given = encode_token(obj, SORTING, 0, nonce="pagination-token-x")
    assert json.loads(base64.b64decode(given))["nonce"] == "pagination-token-x"
    assert encode_token(obj, SORTING, 0) != encode_token(obj, SORTING, 0)


def test_a_token_omits_sort_fields_the_last_object_lacks() -> None:
    token = encode_token({"last_modified": 5}, SORTING, 1)
    assert decode_token(token, SORTING, NOW) == {"last_modified": 5}


def test_a_token_stores_dotted_sort_fields_under_their_dotted_name() -> None:
    sorting = (Sort("author.name"), Sort("author.zip"), Sort(LM, True))
    token = encode_token({"last_modified": 5, "author": {"name": "Ann"}}, sorting, 1)
    assert decode_token(token, sorting, NOW) == {"author.name": "Ann", "last_modified": 5}


@pytest.mark.parametrize("value", [None, True, 1, 1.5, "é", 12345678901234567890])
def test_a_token_round_trips_every_scalar_value(value: Any) -> None:
    token = encode_token({"title": value, "last_modified": 5}, SORTING, 0)
    assert decode_token(token, SORTING, NOW) == {"title": value, "last_modified": 5}


def test_a_decoded_token_keeps_only_the_current_sort_fields() -> None:
    token = make_token({"last_object": {"title": "a", "n": 1, "last_modified": 5}, "offset": 2})
    assert decode_token(token, (Sort("n"), Sort(LM, True)), NOW) == {"n": 1, "last_modified": 5}


VALID_LAST_OBJECT = {"title": "a", "last_modified": 5}


@pytest.mark.parametrize(
    "token",
    [
        "@@@",
        "not base64!",
        base64.b64encode(b"{}").decode().rstrip("="),
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"\xff\xfe").decode(),
        "é",
        make_token([1, 2]),
        make_token("string"),
        make_token({"offset": 0}),
        make_token({"last_record": VALID_LAST_OBJECT, "offset": 0}),
        make_token({"last_object": [1], "offset": 0}),
        make_token({"last_object": "x", "offset": 0}),
        make_token({"last_object": VALID_LAST_OBJECT}),
        make_token({"last_object": VALID_LAST_OBJECT, "offset": -1}),
        make_token({"last_object": VALID_LAST_OBJECT, "offset": True}),
        make_token({"last_object": VALID_LAST_OBJECT, "offset": "3"}),
        make_token({"last_object": VALID_LAST_OBJECT, "offset": 1.5}),
        make_token({"last_object": VALID_LAST_OBJECT, "offset": None}),
        make_token({"last_object": {"title": {"a": 1}}, "offset": 0}),
        make_token({"last_object": {"title": [1]}, "offset": 0}),
        make_token({"last_object": {"title": "a\x00"}, "offset": 0}),
        make_token({"last_object": {"ti\x00tle": "a"}, "offset": 0}),
        make_token({"last_object": {"last_modified": "5"}, "offset": 0}),
        make_token({"last_object": {"last_modified": -1}, "offset": 0}),
        make_token({"last_object": {"last_modified": True}, "offset": 0}),
        make_token({"last_object": {"last_modified": 1.5}, "offset": 0}),
        make_token({"last_object": {"last_modified": None}, "offset": 0}),
        make_token({"last_object": {"last_modified": FUTURE}, "offset": 0}),
        base64.b64encode(b'{"last_object":{"n":NaN},"offset":0}').decode(),
    ],
)
def test_a_token_we_could_not_have_written_is_a_400(token: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_token(token, SORTING, NOW)
    assert_querystring_error(
        caught.value.body(),
        None,
        "_token has invalid content",
        "querystring: _token has invalid content",
    )
    assert_querystring_error(
        error_body([("_token", token)]),
        None,
        "_token has invalid content",
        "querystring: _token has invalid content",
    )


def test_a_token_may_omit_its_nonce_and_have_a_zero_offset() -> None:
    token = make_token({"last_object": {}, "offset": 0})
    assert decode_token(token, SORTING, NOW) == {}


def test_the_token_of_a_list_request_becomes_the_keyset_and_the_nonce() -> None:
    token = encode_token(
        {"title": "one", "last_modified": 5}, SORTING, 3, nonce="pagination-token-n"
    )
    parsed = parse([("_sort", "title"), ("_token", token)])
    assert parsed.query.after == {"title": "one", "last_modified": 5}
    assert parsed.token_nonce == "pagination-token-n"


@pytest.mark.parametrize(
    ("query", "nonce"),
    [
        ("", None),
        ("_token=", None),
        ([("_token", make_token({"last_object": {}, "offset": 0, "nonce": 5}))], None),
    ],
)
def test_without_a_usable_token_there_is_no_keyset_or_nonce(
    query: Params, nonce: str | None
) -> None:
    parsed = parse(query)
    assert parsed.token_nonce == nonce
    if query == "" or query == "_token=":
        assert parsed.query.after is None


def test_a_list_query_leaves_readable_by_to_the_caller() -> None:
    assert parse("n=1").query.readable_by is None
