"""One tool call upstream: the request built from the operation, the credential injected by the
server's auth_mode, sent through core.outbound (SSRF guard, no redirects, timeouts, size cap)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from flask import current_app

from ..core import outbound
from ..core.errors import validation_failed
from .models import McpServer, McpTool

_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\x00")


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def build(server: McpServer, tool: McpTool, arguments: dict, secret: str | None) -> Request:
    path = tool.path
    query: list[tuple[str, str]] = []
    headers = {"Accept": "application/json", "User-Agent": "CoreAPI-MCP/1.0"}
    for where in tool.operation["parameters"]:
        if where["arg"] not in arguments:
            continue
        value = arguments[where["arg"]]
        if where["in"] == "path":
            path = path.replace("{" + where["name"] + "}", quote(_text(value), safe=""))
        elif where["in"] == "query":
            if isinstance(value, list) and where.get("explode") is not False:
                query.extend((where["name"], _text(v)) for v in value)
            elif isinstance(value, list):
                query.append((where["name"], ",".join(_text(v) for v in value)))
            else:
                query.append((where["name"], _text(value)))
        else:
            text = _text(value)
            if any(c in text for c in _FORBIDDEN_IN_HEADERS):
                raise validation_failed({f"arguments.{where['arg']}": ["A header value cannot hold CR, LF or NUL."]})
            headers[where["name"]] = text
    body = None
    if tool.operation.get("body") and tool.operation["body"] in arguments:
        body = json.dumps(arguments[tool.operation["body"]], separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    if secret is not None:
        if server.auth_mode == "bearer":
            headers["Authorization"] = f"Bearer {secret}"
        elif server.auth_mode == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
        elif server.auth_mode == "api_key" and server.auth_header:
            headers[server.auth_header] = secret
        elif server.auth_mode == "api_key" and server.auth_query_param:
            query.append((server.auth_query_param, secret))
    url = server.base_url.rstrip("/") + path
    if query:
        url += ("&" if "?" in url else "?") + urlencode(query)
    return Request(tool.method, url, headers, body)


def _is_json(content_type: str | None) -> bool:
    essence = (content_type or "").split(";")[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


def send(request: Request) -> dict:
    """The call's result; raises outbound.OutboundError when the upstream cannot be reached."""
    limit = current_app.config["MCP_RESPONSE_MAX_BYTES"]
    response = outbound.request(
        request.method,
        request.url,
        headers=request.headers,
        body=request.body,
        total_timeout=current_app.config["MCP_UPSTREAM_TIMEOUT"],
        max_response_bytes=limit + 1,
    )
    truncated = len(response.content) > limit
    raw = response.content[:limit]
    content_type = response.headers.get("Content-Type")
    content = None
    if _is_json(content_type) and not truncated:
        try:
            content = json.loads(raw)
        except ValueError:
            content = None
    if content is None:
        content = raw.decode("utf-8", errors="replace")
    return {
        "content": content,
        "content_type": content_type,
        "status_code": response.status_code,
        "is_error": not 200 <= response.status_code < 300,
        "truncated": truncated,
        "size": len(raw),
        "duration_ms": response.elapsed_ms,
    }
