"""The pieces of ssh host-key pinning that need no sshd: host names as known_hosts writes
them, OpenSSH fingerprints, and the reason a changed key gives."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocelot.runner.clone_auth import (
    Pinned,
    _host_key_failure,
    _known_hosts_entries,
    fingerprint,
    ssh_host,
)

CHANGED_LOG = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
The fingerprint for the ED25519 key sent by the remote host is
SHA256:iYq9AT5f5ezuhMBUvyb4Ba/jvFBK2HIxqspvNHvvDhs.
Host key for [127.0.0.1]:22999 has changed and you have requested strict checking.
Host key verification failed.
"""
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIJwBpIClHKa0BdsAIHys/CZsaSj8rwf20UloYTLHN/uV"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ssh://git@GitHub.com/acme/app.git", "github.com"),
        ("ssh://git@github.com:22/acme/app.git", "github.com"),
        ("ssh://root@127.0.0.1:2222/srv/repo.git", "[127.0.0.1]:2222"),
        ("git+ssh://git@[::1]:2200/repo.git", "[::1]:2200"),
        ("git@gitlab.example.com:group/app.git", "gitlab.example.com"),
        ("ssh://git@host:notaport/x", None),
    ],
)
def test_the_host_is_named_as_known_hosts_names_it(url: str, host: str | None) -> None:
    assert ssh_host(url) == host


def test_fingerprints_are_openssh_s(tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    key = (tmp_path / "k.pub").read_text().split()[1]
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "k.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert fingerprint(key) == listed
    assert fingerprint("not base64!") == "SHA256:?"


def test_known_hosts_lines_are_read_plainly() -> None:
    text = f"# comment\n[127.0.0.1]:22999 ssh-ed25519 {KEY}\n|1|hashed ssh-rsa AAAA\n\n"
    assert _known_hosts_entries(text) == [("[127.0.0.1]:22999", "ssh-ed25519", KEY)]


def test_a_changed_key_gives_a_clear_reason() -> None:
    pinned = [Pinned("[127.0.0.1]:22999", "ssh-ed25519", KEY, datetime(2026, 1, 2, tzinfo=UTC))]
    reason = _host_key_failure(CHANGED_LOG, "[127.0.0.1]:22999", pinned, "acme deploy")
    assert reason is not None
    assert reason.startswith(
        "the ssh host key of [127.0.0.1]:22999 changed since it was first seen on 2026-01-02 "
        f"(now SHA256:iYq9AT5f5ezuhMBUvyb4Ba/jvFBK2HIxqspvNHvvDhs, pinned {fingerprint(KEY)}); "
        "if that is expected, set the host's keys with `ocelot creds ssh add acme deploy "
        "--key-file KEY --known-hosts FILE --yes`"
    )
    assert "ssh_host_keys" in reason
    # Another failure (a refused login) is not a host key problem.
    assert _host_key_failure("root@h: Permission denied (publickey).", "h", pinned, "a b") is None
    strict = _host_key_failure(CHANGED_LOG, "[127.0.0.1]:22999", [], "acme deploy")
    assert strict is not None and "not the one in the credential's known_hosts" in strict
