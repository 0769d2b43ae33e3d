"""The worker fetches a repository over ssh with the account's ssh credential, through a real
sshd on loopback, and leaves no key on disk."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ocelot.db import dispose_engines, make_engine, migrate, session_scope
from ocelot.runner import RunContext, route
from ocelot.runner.clone_auth import is_ssh_url
from ocelot.services.builds import create_build, get_build
from ocelot.services.credentials import add_credential
from ocelot.services.repos import add_repo
from ocelot.settings import load_settings
from tests.conftest import require
from tests.servers import free_port, stop, wait_for_port
from tests.stack import git, make_repo

SSHD = "/usr/sbin/sshd"
YML = (
    "image: ocelot/busybox\nbuildTool: sh\nbranches: [ALL]\nstages:\n  - name: s\n    script: [x]\n"
)


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, str]]:
    require(Path(SSHD).exists() and os.geteuid() == 0, "openssh-server (run as root) is needed")
    home = tmp_path / "sshd"
    home.mkdir()
    keygen(home / "host_key")
    client_key = keygen(home / "client_key")
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    port = free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n"
        f"PidFile {home / 'sshd.pid'}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(home / "sshd_config")],
        stderr=open(home / "sshd.log", "wb"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        yield port, client_key
    finally:
        stop(proc)


def test_ssh_url_detection() -> None:
    assert is_ssh_url("ssh://git@host:22/a/b.git") and is_ssh_url("git@github.com:a/b.git")
    assert not is_ssh_url("https://github.com/a/b.git") and not is_ssh_url("/srv/git/a")


def test_fetch_over_ssh_uses_the_account_key(sshd: tuple[int, str], tmp_path: Path) -> None:
    port, client_key = sshd
    work = tmp_path / "work"
    commit = make_repo(work, {"ocelot.yml": YML})
    bare = tmp_path / "repo.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    url = f"ssh://root@127.0.0.1:{port}{bare}"
    settings = load_settings(
        {
            "OCELOT_HOME": str(tmp_path / "home"),
            "OCELOT_SECRET_KEY": Fernet.generate_key().decode(),
        }
    )
    migrate(settings)
    engine = make_engine(settings)
    ctx = RunContext(settings=settings, engine=engine)
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "ocelot-git-*")))
    try:
        with session_scope(engine) as session:
            add_repo(session, "acme/private", url)
            denied = create_build(session, "acme/private", branch="master").id
        # Without a key the fetch is refused, with a clear reason.
        assert route(ctx, denied) is None
        with session_scope(engine) as session:
            build = get_build(session, denied)
            assert build.status == "FAILED_PRESTART"
            assert "could not fetch the repository" in (build.failure_reason or "")
            add_credential(session, settings, "acme", "ssh", "deploy", {"private_key": client_key})
            allowed = create_build(session, "acme/private", branch="master").id
        assert route(ctx, allowed) == "builds"
        with session_scope(engine) as session:
            build = get_build(session, allowed)
            assert build.hash == commit and build.config_text == YML
        after = set(glob.glob(os.path.join(tempfile.gettempdir(), "ocelot-git-*")))
        assert after == before  # the key went only to a temporary directory, now gone
        mirror = settings.mirrors / f"{build.repo_id}.git"
        assert client_key.splitlines()[1] not in "".join(
            p.read_text(errors="replace") for p in mirror.rglob("config")
        )
    finally:
        dispose_engines()
        shutil.rmtree(settings.home, ignore_errors=True)
