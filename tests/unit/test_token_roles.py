"""The role table (web/auth.py) and the token helpers that need no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ocelot.errors import InvalidRequest, PermissionDenied
from ocelot.services.tokens import ROLES, check_role, parse_expiry, role_allows
from web.auth import require_role, required_role, shape

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("method", "rule", "role"),
    [
        # reads
        ("GET", "/api/v1/whoami", "read"),
        ("GET", "/api/v1/repos", "read"),
        ("GET", "/api/v1/repos/<acct>/<name>", "read"),
        ("GET", "/api/v1/repos/<acct>/<name>/builds", "read"),
        ("GET", "/api/v1/builds/<int:build_id>/logs", "read"),
        ("GET", "/api/v1/repos/<acct>/<name>/deliveries", "read"),
        ("GET", "/api/v1/polls", "read"),
        ("HEAD", "/api/v1/builds", "read"),
        ("OPTIONS", "/api/v1/builds", "read"),
        # credentials and tokens: admin, reads included
        ("GET", "/api/v1/creds", "admin"),
        ("GET", "/api/v1/creds/<ctype>", "admin"),
        ("GET", "/api/v1/creds/<ctype>/<acct>/<identifier>", "admin"),
        ("HEAD", "/api/v1/creds", "admin"),
        ("POST", "/api/v1/creds/<ctype>", "admin"),
        ("DELETE", "/api/v1/creds/<ctype>/<acct>/<identifier>", "admin"),
        ("GET", "/api/v1/tokens", "admin"),
        ("POST", "/api/v1/tokens", "admin"),
        ("DELETE", "/api/v1/tokens/<ref>", "admin"),
        # builds
        ("POST", "/api/v1/repos/<acct>/<name>/builds", "build"),
        ("POST", "/api/v1/builds/<int:build_id>/kill", "build"),
        ("POST", "/api/v1/builds/<int:build_id>/rebuild", "build"),
        ("POST", "/api/v1/builds/<int:build_id>/approve", "build"),
        ("POST", "/api/v1/builds/<id>/decline", "build"),
        ("post", "/api/v1/builds/<int:build_id>/kill", "build"),
        # administration
        ("POST", "/api/v1/repos", "admin"),
        ("DELETE", "/api/v1/repos/<acct>/<name>", "admin"),
        ("PATCH", "/api/v1/repos/<acct>/<name>", "admin"),
        ("PUT", "/api/v1/repos/<acct>/<name>/settings", "admin"),
        ("POST", "/api/v1/repos/discover", "admin"),
        ("POST", "/api/v1/repos/<acct>/<name>/watch", "admin"),
        ("DELETE", "/api/v1/repos/<acct>/<name>/watch", "admin"),
        ("PUT", "/api/v1/repos/<acct>/<name>/poll", "admin"),
        ("DELETE", "/api/v1/repos/<acct>/<name>/poll", "admin"),
        # writes nobody listed fail closed
        ("POST", "/api/v1/something/new", "admin"),
        ("DELETE", "/api/v1/builds/<int:build_id>", "admin"),
        ("PUT", "/api/v1/builds/<int:build_id>/kill", "admin"),
        ("POST", "/api/v1/builds/<int:build_id>/kill/extra", "admin"),
    ],
)
def test_required_role(method: str, rule: str, role: str) -> None:
    assert required_role(method, rule) == role


def test_prefixes_match_whole_path_segments() -> None:
    assert required_role("GET", "/api/v1/credsummary") == "read"
    assert required_role("GET", "/api/v1/tokenset") == "read"


def test_shape_blanks_parameters() -> None:
    assert shape("/api/v1/builds/<int:build_id>/kill") == "/api/v1/builds/<>/kill"
    assert shape("/api/v1/repos/<acct>/<name>") == "/api/v1/repos/<>/<>"


def test_roles_are_ordered() -> None:
    assert ROLES == ("read", "build", "admin")
    assert role_allows("admin", "build") and role_allows("admin", "read")
    assert role_allows("build", "build") and role_allows("build", "read")
    assert not role_allows("build", "admin") and not role_allows("read", "build")
    assert not role_allows("root", "read") and not role_allows("", "read")


def test_a_role_too_small_is_a_403_naming_the_role_needed() -> None:
    require_role("admin", "DELETE", "/api/v1/repos/<acct>/<name>")
    with pytest.raises(PermissionDenied) as caught:
        require_role("read", "DELETE", "/api/v1/repos/<acct>/<name>")
    err = caught.value
    assert err.status_code == 403
    assert err.to_dict() == {
        "code": "forbidden",
        "message": "this needs a token with role 'admin' (yours is 'read')",
        "required_role": "admin",
        "role": "read",
    }
    with pytest.raises(PermissionDenied, match="role 'build' \\(yours is 'read'\\)"):
        require_role("read", "POST", "/api/v1/builds/<int:build_id>/kill")


def test_check_role() -> None:
    assert check_role(" Build ") == "build"
    with pytest.raises(InvalidRequest, match="roles are read, build, admin"):
        check_role("owner")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW + timedelta(days=30)),
        ("12h", NOW + timedelta(hours=12)),
        ("2W", NOW + timedelta(weeks=2)),
        ("2026-12-31", datetime(2026, 12, 31, tzinfo=UTC)),
        ("2026-06-02T08:30:00Z", datetime(2026, 6, 2, 8, 30, tzinfo=UTC)),
        ("2026-06-02T10:30:00+02:00", datetime(2026, 6, 2, 8, 30, tzinfo=UTC)),
        ("2026-06-02T08:30", datetime(2026, 6, 2, 8, 30, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("never", None),
    ],
)
def test_parse_expiry(text: str | None, expected: datetime | None) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize("text", ["0d", "2020-01-01", "2026-06-01T12:00:00Z", "soon", "30x"])
def test_parse_expiry_refuses_the_past_and_nonsense(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_expiry(text, NOW)
