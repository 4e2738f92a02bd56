"""Issue #14: invalid paging parameters are a 400 naming the parameter (not silently the default),
and a JSON integer that would lose precision is refused before it is stored as a double."""

from __future__ import annotations

import pytest

from apps.common.validation import MAX_JSON_INTEGER, json_problem

pytestmark = pytest.mark.django_db
TASKS = "/api/v1/tasks/"


@pytest.mark.parametrize(("query", "name"), [
    ("limit=abc", "limit"), ("limit=0", "limit"), ("limit=-5", "limit"), ("limit=1001", "limit"),
    ("offset=-1", "offset"), ("offset=x", "offset"), ("offset=99999999999999999999999", "offset"),
])
def test_invalid_paging_is_a_400_naming_the_parameter(tenant_a, query, name):
    response = tenant_a.client.get(f"{TASKS}?{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["message"].startswith(f"{name}: ")
    assert error["details"] == {"field": name}


def test_valid_paging_still_pages(tenant_a):
    for i in range(3):
        assert tenant_a.client.post(TASKS, {"type": f"t{i}"}, format="json").status_code == 201
    body = tenant_a.client.get(f"{TASKS}?limit=2&offset=1").json()
    assert body["count"] == 3 and len(body["results"]) == 2
    assert tenant_a.client.get(f"{TASKS}?limit=1000&offset=").status_code == 200


@pytest.mark.parametrize("literal", [str(2**70), str(-(2**60)), str(MAX_JSON_INTEGER + 1), "1.2e21"])
def test_an_integer_beyond_2_53_in_task_data_is_refused_and_nothing_written(tenant_a, literal):
    body = f'{{"type": "t", "data": {{"n": [1, {{"big": {literal}}}]}}}}'
    response = tenant_a.client.post(TASKS, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"].startswith("data.n[1].big: integers beyond")
    assert tenant_a.client.get(TASKS).json()["count"] == 0


def test_numbers_a_double_holds_exactly_pass():
    assert json_problem({"a": MAX_JSON_INTEGER, "b": -MAX_JSON_INTEGER, "c": 1.5, "d": True, "e": 1e-300}) is None
    # an integral double this large may be an integer the parser rounded: refused as well
    assert json_problem({"x": 1.5e300}) == ("x", json_problem([2**70])[1])
    assert json_problem(MAX_JSON_INTEGER + 1) == ("", json_problem([MAX_JSON_INTEGER + 1])[1])


@pytest.mark.parametrize("path", ["/api/v1/agents/not-a-uuid/session/", "/api/v1/collections/%C3%96/", "/api/v1/nope/"])
def test_a_url_no_route_matches_is_the_json_error_body(tenant_a, path):
    response = tenant_a.client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
