"""The vector endpoints' JSON parser: numpy rows when that is safe, and the same errors as before."""

from __future__ import annotations

import json

import numpy as np
import pytest
import simdjson
from rest_framework.exceptions import ParseError

from apps.embeddings.models import Embedding
from apps.embeddings.tests.factories import clustered, items_from
from apps.embeddings.tests.test_api import BASE, _snapshot, docs  # noqa: F401 (fixture)
from apps.platform.http import parsers
from apps.platform.http.parsers import loads


def test_vectors_become_float64_rows_and_the_rest_plain_objects():
    body = {"items": [{"entity_type": "d", "entity_id": "1", "vector": [1, 2.5, -3e-3],
                       "metadata": {"a": {"b": None}, "c": True}, "content": "x"}], "k": 3}
    data = loads(json.dumps(body).encode())
    vector = data["items"][0].pop("vector")
    assert isinstance(vector, np.ndarray) and vector.dtype == np.float64
    assert vector.tolist() == [1.0, 2.5, -0.003]
    body["items"][0].pop("vector")
    assert data == body
    top = loads(b'{"vector": [0.5, 1], "filter": {"a": {"$eq": 1}}}')
    assert isinstance(top["vector"], np.ndarray) and top["vector"].tolist() == [0.5, 1.0]
    assert loads(b"[1, [2]]") == [1, [2]] and loads(b"7") == 7


def test_other_arrays_in_the_body_leave_vectors_as_lists():
    """Any other `[` could be a nested vector, which simdjson's buffer would flatten silently."""
    data = loads(b'{"queries": [{"vector": [1, 2], "filter": {"t": {"$in": ["a", "b"]}}}]}')
    assert data == {"queries": [{"vector": [1, 2], "filter": {"t": {"$in": ["a", "b"]}}}]}
    data = loads(b'{"items": [{"vector": [[1], [2]]}]}')
    assert data == {"items": [{"vector": [[1], [2]]}]}


def test_a_vector_that_is_not_all_numbers_stays_a_list():
    assert loads(b'{"items": [{"vector": [1, true, "x", null]}]}') == {"items": [{"vector": [1, True, "x", None]}]}


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"a": NaN}', "unexpected character"), (b'{"a": 1,}', "trailing comma"), (b"", "empty document"),
    (b"\xff", "not valid UTF-8"), (b'{"vector": [1, 1e400]}', "number is infinity"),
])
def test_malformed_json_is_a_parse_error_that_says_where(body, reason):
    """simdjson's errors carry no position, so orjson re-reads a refused body to say where it broke."""
    with pytest.raises(ParseError) as err:
        loads(body)
    message = str(err.value.detail)
    assert message.startswith("JSON parse error - ") and reason in message and "line 1 column" in message


def test_a_too_deep_document_is_a_parse_error_not_a_crash():
    deep = b'{"items": [{"vector": [1, 2], "metadata": ' + b'{"a": ' * 1100 + b"1" + b"}" * 1100 + b"}]}"
    with pytest.raises(ParseError, match="depth limit exceeded"):
        loads(deep)
    assert loads(b'{"vector": [1, 2]}')["vector"].tolist() == [1.0, 2.0]  # and the parser still works


def test_the_parser_survives_a_document_left_alive():
    """simdjson refuses to reuse a parser while proxies of its last document live; a new one is made."""
    parser = parsers._parser()
    kept = parser.parse(b'{"a": [1]}')["a"]  # noqa: F841 (kept alive on purpose)
    assert loads(b'{"vector": [1, 2]}')["vector"].tolist() == [1.0, 2.0]
    assert parsers._parser() is not parser and isinstance(parsers._parser(), simdjson.Parser)


@pytest.mark.django_db
def test_api_rejects_nested_and_non_numeric_vectors_naming_them(api_client, docs):  # noqa: F811
    before = _snapshot()
    nested = json.dumps({"items": [{"entity_type": "d", "entity_id": "1", "vector": [[1.0]] * 8}]})
    r = api_client.generic("POST", f"{BASE}docs/embeddings/", nested, content_type="application/json")
    assert r.status_code == 400 and r.json()["error"]["message"] == "items[0].vector: expected a flat list of numbers"
    mixed = json.dumps({"items": [{"entity_type": "d", "entity_id": "1", "vector": [1, 1, 1, True, 1, 1, 1, 1]}]})
    r = api_client.generic("POST", f"{BASE}docs/embeddings/", mixed, content_type="application/json")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("items[0].vector[3]: expected a number")
    r = api_client.generic("POST", f"{BASE}docs/search/", json.dumps({"vector": [[1.0]] * 8}),
                           content_type="application/json")
    assert r.status_code == 400 and "vector" in r.json()["error"]["message"]
    assert _snapshot() == before


@pytest.mark.django_db
def test_api_round_trips_vectors_through_the_fast_path(api_client, docs):  # noqa: F811
    vecs = clustered(20, 8)
    body = json.dumps({"items": items_from(vecs, metadata=[{"i": i} for i in range(20)])})
    r = api_client.generic("POST", f"{BASE}docs/embeddings/", body, content_type="application/json")
    assert r.status_code == 201 and r.json()["inserted"] == 20
    stored = {e.entity_id: e.vector for e in Embedding.objects.all()}
    assert all(np.allclose(stored[str(i)], vecs[i]) for i in range(20))
    r = api_client.generic("POST", f"{BASE}docs/search/", json.dumps({"vector": vecs[3].tolist(), "k": 1}),
                           content_type="application/json")
    assert r.status_code == 200 and r.json()["results"][0]["entity_id"] == "3"
