"""Trust on first use of ssh host keys, with a real sshd on loopback and the real worker: the
first fetch pins the host's key in the database; after the server's key changes (a
re-installed host, or someone in the middle) the next build fails with a reason naming the
host and both fingerprints; ``ocelot creds ssh add ... --known-hosts FILE`` sets the new key
and builds go on."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ocelot.cli.main import cli
from ocelot.db import session_scope
from ocelot.models import HostKey
from tests.conftest import require
from tests.servers import Process, free_port, stop, wait_for_port
from tests.stack import Stack, git, make_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SSHD = "/usr/sbin/sshd"
YML = (
    "image: ocelot/busybox\nbuildTool: sh\nbranches: [ALL]\n"
    "stages:\n  - name: s\n    script: [echo hi]\n"
)


def keygen(path: Path) -> None:
    for old in (path, path.with_suffix(".pub")):
        old.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def ssh_fingerprint(pub: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[1]


class Sshd:
    """sshd on a free loopback port whose host key can be replaced between runs."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        keygen(home / "host_key")
        keygen(home / "client_key")
        (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
        (home / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
            f"AuthorizedKeysFile {home / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n"
            f"PidFile {home / 'sshd.pid'}\n"
        )

    @property
    def host(self) -> str:
        return f"[127.0.0.1]:{self.port}"

    def host_key(self) -> tuple[str, str]:
        key_type, key = (self.home / "host_key.pub").read_text().split()[:2]
        return key_type, key

    def start(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        with open(self.home / "sshd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.home / "sshd_config")],
                stderr=log,
                start_new_session=True,
            )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    require(Path(SSHD).exists() and os.geteuid() == 0, "openssh-server (run as root) is needed")
    home = tmp_path / "sshd"
    home.mkdir()
    server = Sshd(home)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_first_host_key_is_pinned_and_a_changed_one_is_refused(
    stack: Stack, docker_worker: Process, sshd: Sshd, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    make_repo(work, {"ocelot.yml": YML})
    bare = tmp_path / "repo.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    acct = f"tofu{uuid.uuid4().hex[:8]}"
    name = f"{acct}/app"
    resp = stack.client.post(
        "/api/v1/repos",
        headers=stack.auth,
        json={"full_name": name, "url": f"ssh://root@127.0.0.1:{sshd.port}{bare}"},
    )
    assert resp.status_code == 201, resp.get_json()
    client_key = (sshd.home / "client_key").read_text()
    resp = stack.client.post(
        "/api/v1/creds/ssh",
        headers=stack.auth,
        json={"acct": acct, "identifier": "deploy", "private_key": client_key},
    )
    assert resp.status_code == 201, resp.get_json()

    # First use: the fetch trusts the host and pins its key.
    first = stack.wait(stack.build(name, branch="master"))
    assert first["status"] == "PASSED", (first, stack.logs(first["id"]))
    with session_scope(stack.engine) as session:
        pinned = [
            (r.key_type, r.key)
            for r in session.scalars(select(HostKey).where(HostKey.host == sshd.host))
        ]
    assert pinned == [sshd.host_key()]

    # The server comes back with another key; a new commit makes the fetch necessary.
    old_fingerprint = ssh_fingerprint(sshd.home / "host_key.pub")
    sshd.stop()
    keygen(sshd.home / "host_key")
    sshd.start()
    new_fingerprint = ssh_fingerprint(sshd.home / "host_key.pub")
    make_repo(work, {"README": "more\n"}, message="second")
    git("push", "-q", str(bare), "master", cwd=work)
    refused = stack.wait(stack.build(name, branch="master"))
    assert refused["status"] == "FAILED_PRESTART", refused
    reason = refused["failure_reason"]
    assert f"the ssh host key of {sshd.host} changed since it was first seen" in reason, reason
    assert f"now {new_fingerprint}, pinned {old_fingerprint}" in reason
    assert f"`ocelot creds ssh add {acct} deploy --key-file KEY --known-hosts FILE --yes`" in (
        reason
    )
    with session_scope(stack.engine) as session:  # the pin was not replaced
        keys = list(session.scalars(select(HostKey.key).where(HostKey.host == sshd.host)))
    assert keys == [pinned[0][1]]

    # The admin checks the new key and sets it on the credential.
    key_type, key = sshd.host_key()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{sshd.host} {key_type} {key}\n")
    env = {
        "OCELOT_URL": stack.url,
        "OCELOT_TOKEN": stack.token,
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }
    args = ["creds", "ssh", "add", acct, "deploy", "--key-file", str(sshd.home / "client_key")]
    result = CliRunner().invoke(
        cli, [*args, "--known-hosts", str(known_hosts), "--yes"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "replaced ssh credential 'deploy'" in result.output
    listed = stack.client.get(f"/api/v1/creds/ssh/{acct}/deploy", headers=stack.auth).get_json()
    assert listed["fields"]["known_hosts"].split() == [sshd.host, key_type, key]
    again = stack.wait(stack.build(name, branch="master"))
    assert again["status"] == "PASSED", (again, stack.logs(again["id"]))
