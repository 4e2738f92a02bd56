"""The filter language of search and delete, compiled to parameterised SQL (never string-built values).

    {"color": {"$eq": "red"}, "$or": [{"year": {"$gte": 2020}}, {"tags": {"$contains": "new"}}]}

Fields are metadata keys (dotted paths reach nested objects: "a.b") or the columns `entity_type`,
`entity_id`, `created_at`. A bare value means `$eq`; several keys in one object are ANDed.
Operators: $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $like; combinators $and $or $not.

Semantics (a Python evaluator in the tests holds the compiler to them):
* $eq/$in compare JSON scalars by type and value (1 == 1.0, true != 1, "1" != 1); they compile to
  `metadata @> '{"k": v}'`, which the `jsonb_path_ops` GIN index serves.
* $ne/$nin are their negations: a row without the key matches them.
* $gt/$gte/$lt/$lte compare numbers with numbers and strings with strings (code-point order);
  a value of another type never matches. Compiled to a strict jsonpath with the value passed as a
  jsonpath variable, so a string stored where a number is expected cannot raise an error.
* $exists: the key is present (even with a null value).
* $contains: the value is an array holding that scalar (GIN-served).
* $like: the value is a string matching the SQL LIKE pattern (% and _, backslash escapes).

Bounds: at most MAX_DEPTH (8) levels of $and/$or/$not, MAX_NODES conditions, MAX_IN values per
list, and at most MAX_JSON_DEPTH (32) nested objects and arrays in all; no NUL (U+0000) in any
key or value, which PostgreSQL's text and jsonb cannot hold (apps.common.validation.json_problem).
`created_at` values are ISO 8601 date-times that PostgreSQL can store (UTC offsets within ±15:59).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from apps.common.errors import ValidationFailed
from apps.common.validation import datetime_parse, json_problem

KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
COLUMNS = {"entity_type", "entity_id", "created_at"}
OPERATORS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains", "$like"}
COMBINATORS = {"$and", "$or", "$not"}
MAX_DEPTH = 8
MAX_NODES = 256
MAX_IN = 1024
MAX_PATH_SEGMENTS = 8
MAX_JSON_DEPTH = 32  # objects and arrays, checked before anything recurses over the filter

_RANGE_SQL = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

Scalar = str | int | float | bool | None


class _Compiler:
    def __init__(self, root: str, max_depth: int, max_nodes: int) -> None:
        self.params: list[Any] = []
        self.nodes = 0
        self.root = root
        self.max_depth = max_depth
        self.max_nodes = max_nodes

    def fail(self, path: str, message: str) -> ValidationFailed:
        return ValidationFailed(f"{path}: {message}", code="invalid_filter", details={"path": path})

    def count(self, path: str) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise self.fail(path, f"filter too large (more than {self.max_nodes} conditions)")

    # --- structure ----------------------------------------------------------------------------
    def node(self, spec: Any, path: str, depth: int) -> str:
        if depth > self.max_depth:
            raise self.fail(path, f"filter nested deeper than {self.max_depth} levels")
        if not isinstance(spec, dict):
            raise self.fail(path, "expected an object")
        if not spec:
            return "TRUE"
        parts = []
        for key, value in spec.items():
            sub = f"{path}.{key}"
            self.count(sub)
            if key in ("$and", "$or"):
                if not isinstance(value, list) or not value:
                    raise self.fail(sub, "expected a non-empty list of filters")
                items = [self.node(v, f"{sub}[{i}]", depth + 1) for i, v in enumerate(value)]
                joiner = " AND " if key == "$and" else " OR "
                parts.append("(" + joiner.join(items) + ")")
            elif key == "$not":
                parts.append(f"(NOT {self.node(value, sub, depth + 1)})")
            elif key.startswith("$"):
                raise self.fail(sub, f"unknown operator {key}")
            else:
                parts.append(self.field(key, value, sub))
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def field(self, key: str, ops: Any, path: str) -> str:
        segments = key.split(".")
        if len(segments) > MAX_PATH_SEGMENTS or not all(KEY_RE.match(s) for s in segments):
            raise self.fail(path, "invalid field name (letters, digits, _ and -, dotted for nested keys)")
        if not isinstance(ops, dict):
            ops = {"$eq": ops}
        if not ops:
            raise self.fail(path, "expected at least one operator")
        parts = []
        for op, value in ops.items():
            sub = f"{path}.{op}"
            if op not in OPERATORS:
                # The path names the field, as users read it: filter.$and[1].color: unknown operator $regex
                raise self.fail(path, f"unknown operator {op}")
            if key in COLUMNS:
                parts.append(self.column(key, op, value, sub))
            else:
                parts.append(self.metadata(segments, op, value, sub))
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    # --- values -------------------------------------------------------------------------------
    def scalar(self, value: Any, path: str) -> Scalar:
        if value is None or isinstance(value, str | bool | int):
            return value
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise self.fail(path, "numbers must be finite")
            return value
        raise self.fail(path, "expected a string, number, boolean or null")

    def scalar_list(self, value: Any, path: str) -> list[Scalar]:
        if not isinstance(value, list):
            raise self.fail(path, "expected a list")
        if len(value) > MAX_IN:
            raise self.fail(path, f"at most {MAX_IN} values")
        return [self.scalar(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def p(self, value: Any) -> str:
        self.params.append(value)
        return "%s"

    # --- metadata -----------------------------------------------------------------------------
    @staticmethod
    def nest(segments: list[str], value: Any) -> dict:
        doc: Any = value
        for seg in reversed(segments):
            doc = {seg: doc}
        return doc

    def contains(self, segments: list[str], value: Any) -> str:
        return f"metadata @> {self.p(json.dumps(self.nest(segments, value)))}::jsonb"

    def metadata(self, segments: list[str], op: str, value: Any, path: str) -> str:
        if op in ("$eq", "$ne"):
            sql = self.contains(segments, self.scalar(value, path))
            return sql if op == "$eq" else f"(NOT {sql})"
        if op in ("$in", "$nin"):
            values = self.scalar_list(value, path)
            if not values:
                return "FALSE" if op == "$in" else "TRUE"
            sql = "(" + " OR ".join(self.contains(segments, v) for v in values) + ")"
            return sql if op == "$in" else f"(NOT {sql})"
        if op == "$exists":
            if not isinstance(value, bool):
                raise self.fail(path, "expected true or false")
            sql = f"(metadata #> {self.p(segments)}::text[]) IS NOT NULL"
            return sql if value else f"(NOT {sql})"
        if op == "$contains":
            return self.contains(segments, [self.scalar(value, path)])
        if op == "$like":
            if not isinstance(value, str):
                raise self.fail(path, "expected a string pattern")
            # COALESCE: a missing key must be FALSE, not NULL (NOT NULL would drop the row under $not).
            return f"COALESCE((metadata #>> {self.p(segments)}::text[]) LIKE {self.p(value)} " \
                   f"AND jsonb_typeof(metadata #> {self.p(segments)}::text[]) = 'string', FALSE)"
        # range
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(path, "expected a number or a string")
        self.scalar(value, path)
        jpath = "strict $" + "".join(f'."{s}"' for s in segments) + f" ? (@ {_RANGE_SQL[op]} $v)"
        # silent => true: a missing key or a non-object on the path is "no match", not an error.
        return (f"COALESCE(jsonb_path_exists(metadata, {self.p(jpath)}::jsonpath, "
                f"{self.p(json.dumps({'v': value}))}::jsonb, true), FALSE)")

    # --- columns ------------------------------------------------------------------------------
    def column_value(self, key: str, value: Any, path: str) -> Any:
        if key == "created_at":
            try:
                return datetime_parse(value)
            except ValueError as exc:
                raise self.fail(path, str(exc)) from None
        if not isinstance(value, str):
            raise self.fail(path, "expected a string")
        return value

    def column(self, key: str, op: str, value: Any, path: str) -> str:
        col = key
        if op == "$exists":
            if not isinstance(value, bool):
                raise self.fail(path, "expected true or false")
            return "TRUE" if value else "FALSE"
        if op in ("$contains",):
            raise self.fail(path, f"{op} applies to metadata arrays, not to {key}")
        if op == "$like":
            if key == "created_at" or not isinstance(value, str):
                raise self.fail(path, "expected a string pattern on a text field")
            return f"{col} LIKE {self.p(value)}"
        if op in ("$in", "$nin"):
            if not isinstance(value, list) or len(value) > MAX_IN:
                raise self.fail(path, f"expected a list of at most {MAX_IN} values")
            values = [self.column_value(key, v, f"{path}[{i}]") for i, v in enumerate(value)]
            sql = f"{col} = ANY({self.p(values)})"
            return sql if op == "$in" else f"(NOT {sql})"
        v = self.column_value(key, value, path)
        sql_op = {"$eq": "=", "$ne": "<>", **_RANGE_SQL}[op]
        if op in _RANGE_SQL and key != "created_at":
            col = f'{col} COLLATE "C"'  # code-point order, like metadata strings (jsonpath)
        return f"{col} {sql_op} {self.p(v)}"


def filter_compile(spec: Any, *, root: str = "filter", max_depth: int = MAX_DEPTH,
                   max_nodes: int = MAX_NODES) -> tuple[str, list[Any]]:
    """SQL boolean expression over `embeddings_embedding` columns, plus its parameters (%s style).

    Raises ValidationFailed naming the path of the first problem (`filter.$and[1].color: ...`).
    A JSON filter is compiled once and memoised (searches repeat the same few filters, and the
    API compiles each twice: to validate the request, then to search).
    """
    key = filter_key(spec)
    if not key.startswith("json:"):  # not JSON (a datetime from a Python caller, say): no memo
        return _compile(spec, root, max_depth, max_nodes)
    sql, params = _compile_json(key[5:], root, max_depth, max_nodes)
    return sql, list(params)


def filter_where(spec: Any) -> tuple[str, list[Any]]:
    """The WHERE clause of an optional filter: its compiled SQL, or TRUE when there is none (None, {})."""
    return filter_compile(spec) if spec else ("TRUE", [])


_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode  # built once: json.dumps with
# arguments builds an encoder per call, which was most of a filter's memo lookup


def filter_key(spec: Any) -> str:
    """A hashable stand-in for a filter (its compact JSON), for memo keys."""
    try:
        return "json:" + _encode(spec)
    except (TypeError, ValueError):
        return "repr:" + repr(spec)
    except RecursionError:  # nested past any bound: never compiled, so never a memo key (_compile refuses it)
        return "deep:"


@functools.lru_cache(maxsize=4096)
def _compile_json(key: str, root: str, max_depth: int, max_nodes: int) -> tuple[str, tuple[Any, ...]]:
    sql, params = _compile(json.loads(key), root, max_depth, max_nodes)
    return sql, tuple(params)


def _compile(spec: Any, root: str, max_depth: int, max_nodes: int) -> tuple[str, list[Any]]:
    compiler = _Compiler(root, max_depth, max_nodes)
    problem = json_problem(spec, max_depth=MAX_JSON_DEPTH)  # NUL, or nesting the compiler would recurse into
    if problem:
        path, reason = problem
        raise compiler.fail(f"{root}{path}" if path.startswith("[") or not path else f"{root}.{path}", reason)
    sql = compiler.node(spec, root, 1)
    return sql, compiler.params
