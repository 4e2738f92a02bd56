"""The OpenAPI schema's one place for what every operation shares: the error body and its statuses.

drf-spectacular documents each view from its serializers; what no serializer says — that every
failure answers `{"error": {"code", "message", "details"}}` (apps.common.errors.error_body), and
with which statuses — is added here, after generation, so that no view repeats it and none can
forget it (schemathesis checks each answer's status and body against the schema). The hook also
tags the operations drf-spectacular puts under its catch-all `api` tag by resource, and drops the
doubled `Request` suffix COMPONENT_SPLIT_REQUEST gives serializers already named `...Request`
(`IngestRequestRequest`), so a generated client's modules and class names read as the API's.
"""

from __future__ import annotations

import re
from typing import Any

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The one error body of the API (4xx and 5xx).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. `invalid`, `not_found`"},
                "message": {"type": "string", "description": "human-readable; names the field at fault"},
                "details": {"nullable": True, "description": "per-field messages, limits, or null"},
            },
            "required": ["code", "message", "details"],
        },
    },
    "required": ["error"],
}
_DESCRIPTIONS = {
    400: "invalid input; the message names the field or parameter",
    401: "no or invalid credentials",
    403: "the credential lacks the scope or permission (the message names it)",
    404: "no such object in the caller's tenant (or no such tenant, for an operator naming one)",
    409: "conflict with the current state (version, status, uniqueness)",
    413: "request body or field too large",
    429: "rate limit exceeded (see Retry-After)",
    503: "a backing service (PostgreSQL, Redis) is unavailable; retry after Retry-After",
}
_WRITES = {"post", "put", "patch", "delete"}
_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}
_DOUBLE_REQUEST = re.compile(r"^(\w+Request)Request$")


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses `operation` can answer: any input can be refused (400), every API path
    needs a credential with a scope, can name what does not exist, is throttled and needs the
    database; writes can conflict; bodies can be too large."""
    codes = [400, 429, 503]
    if path.startswith("/api/"):
        # 404: a path id, an id in the body (a task's agent_id), or the tenant an operator names
        # (X-Agency-Tenant, `?tenant=`) can name nothing, on every API operation.
        codes += [401, 403, 404]
    if method in _WRITES:
        codes.append(409)
    if "requestBody" in operation or method in _WRITES:
        codes.append(413)
    return sorted(set(codes))


def _resource(path: str) -> str:
    """`/api/v1/maintenance-runs/{id}/` → `maintenance-runs`: the tag (and generated client module) of a path."""
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    if parts[:2] == ["api", "v1"]:
        parts = parts[2:]
    return parts[0] if parts else "api"


def _rename_double_request(result: dict[str, Any]) -> dict[str, Any]:
    """`XRequestRequest` components renamed `XRequest` (and every `$ref` to them), unless taken."""
    schemas = result.get("components", {}).get("schemas", {})
    renames = {}
    for name in list(schemas):
        match = _DOUBLE_REQUEST.match(name)
        if match and match.group(1) not in schemas:
            renames[name] = match.group(1)
    if not renames:
        return result
    refs = {f"#/components/schemas/{old}": f"#/components/schemas/{new}" for old, new in renames.items()}
    stack: list[Any] = [result]
    while stack:  # every `$ref` in the document (iterative: schemas nest arbitrarily)
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str) and node["$ref"] in refs:
                node["$ref"] = refs[node["$ref"]]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


def postprocess_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: the Error component on every operation's error statuses.

    A status a view already documents keeps its description; it gets the Error body when it has
    none (a view's own error body, /health/'s 503 say, is left alone).
    """
    result = _rename_double_request(result)
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            if operation.get("tags") in (None, [], ["api"]):  # drf-spectacular's catch-all: tag by resource
                operation["tags"] = [_resource(path)]
            responses = operation.setdefault("responses", {})
            for code in _statuses(path, method, operation):
                response = responses.setdefault(str(code), {"description": _DESCRIPTIONS[code]})
                if not response.get("content"):
                    response["content"] = ref
                if not response.get("description"):
                    response["description"] = _DESCRIPTIONS[code]
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400 and not response.get("content"):
                    response["content"] = ref
    return result
