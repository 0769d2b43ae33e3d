"""Deeply nested JSON sent to every write route of the REST API, with an admin token, over
real HTTP: the answer is a clear 4xx, never a 500 (Python's parser recurses)."""

from __future__ import annotations

import re

import requests

from tests.stack import Stack

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_deep_json_on_every_api_write_is_a_client_error(stack: Stack) -> None:
    writes = [
        (method, re.sub(r"<[^>]*>", "x", rule.rule).replace("/builds/x", "/builds/999999"))
        for rule in stack.app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in sorted((rule.methods or set()) - {"GET", "HEAD", "OPTIONS"})
    ]
    assert len(writes) > 10
    for method, path in writes:
        resp = requests.request(
            method,
            f"{stack.url}{path}",
            data=DEEP,
            headers={**stack.auth, "Content-Type": "application/json"},
            timeout=30,
        )
        assert 400 <= resp.status_code < 500, (method, path, resp.status_code, resp.text[:200])
