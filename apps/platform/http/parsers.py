"""JSON for the vector endpoints: `vector` arrays go straight into numpy, with no Python floats.

A 1,000-item ingest body at dimension 768 is about 15 MB of decimal text. orjson turns it into
768,000 Python floats and numpy then copies them into a matrix: 110 ms of a 140 ms request
(measured here). simdjson (pysimdjson) parses the document in C++ and copies each numeric array
into a float64 buffer in one call (`as_buffer`): about 25 ms for the same body. Everything else
in the document (ids, metadata, filters) becomes ordinary Python objects, as with any JSON parser.

`as_buffer` flattens nested arrays, so `[[1], [2]]` would pass for `[1, 2]`. It is only used when
every `[` in the body belongs to the top-level list or to a vector, i.e. no vector can hold a
nested array. Otherwise (arrays in metadata or filters, say) the vectors become lists, and the
usual validation checks them element by element and names the bad one.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import orjson
import simdjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

_local = threading.local()
LISTS = ("items", "queries")  # the top-level lists whose objects carry a `vector`


def _parser() -> simdjson.Parser:
    found = getattr(_local, "parser", None)
    if found is None:
        found = _local.parser = simdjson.Parser()
    return found


_Object, _Array = simdjson.Object, simdjson.Array


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is _Object:
        return value.as_dict()
    if kind is _Array:
        return value.as_list()
    return value


def _convert(obj: simdjson.Object, vectors: list[tuple[dict, simdjson.Array]]) -> dict[str, Any]:
    """The object as a dict, with its `vector` array left for later (collected in `vectors`)."""
    out: dict[str, Any] = {}
    for key in obj:
        value = obj[key]
        kind = type(value)
        if kind is _Object:
            value = value.as_dict()
        elif kind is _Array:
            if key == "vector":
                vectors.append((out, value))
                value = None
            else:
                value = value.as_list()
        out[key] = value
    return out


def _parse(body: bytes) -> Any:
    try:
        return _parser().parse(body)
    except RuntimeError as exc:
        if "re-use a parser" not in str(exc):
            raise
        # Proxies of an earlier document are still alive (an exception kept its frame): a new parser.
        _local.parser = simdjson.Parser()
        return _local.parser.parse(body)


def loads(body: bytes) -> Any:
    """Parse a request body; `vector` values (top level or in `items` / `queries`) as float64 arrays."""
    try:
        doc = _parse(body)
    except (ValueError, UnicodeDecodeError, RuntimeError):  # RuntimeError: too deep, among others
        return _fallback(body)
    if not isinstance(doc, simdjson.Object):
        return _plain(doc)
    vectors: list[tuple[dict, simdjson.Array]] = []
    arrays = 0
    data: dict[str, Any] = {}
    try:
        for key in doc:
            value = doc[key]
            if key in LISTS and isinstance(value, simdjson.Array):
                arrays += 1
                data[key] = [_convert(x, vectors) if type(x) is _Object else _plain(x) for x in value]
            elif key == "vector" and isinstance(value, simdjson.Array):
                vectors.append((data, value))
                data[key] = None
            else:
                data[key] = _plain(value)
    except KeyError:
        # simdjson looks a key up as a C string, so a key holding NUL ("k\u0000") is NO_SUCH_FIELD in
        # its own object. orjson parses it; validation then names the key (and refuses the NUL).
        return _fallback(body)
    # No other array anywhere, so no vector holds a nested one (numpy counts 15 MB in 3 ms, bytes.count in 9).
    flat = int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == ord("["))) == arrays + len(vectors)
    for holder, array in vectors:
        holder["vector"] = _numbers(array) if flat else array.as_list()
    return data


def _fallback(body: bytes) -> Any:
    """A body simdjson refused, handed to orjson: simdjson's errors carry no position, orjson's say
    where (line and column); and should orjson accept it, it is parsed, with vectors as lists."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise ParseError(f"JSON parse error - {err}") from None


def _numbers(array: simdjson.Array) -> Any:
    try:
        return np.frombuffer(array.as_buffer(of_type="d"), dtype=np.float64)
    except (TypeError, ValueError):  # not all numbers: the list, for validation to name the element
        return array.as_list()


class VectorJSONParser(BaseParser):
    """application/json for ingest and search (see the module docstring)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        return loads(stream.read())
