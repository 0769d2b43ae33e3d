"""What a build gets: registry matching, the files for $HOME, maven settings (no I/O); and
that deciding it never reaches around the executor contract."""

from __future__ import annotations

import ast
import io
import tarfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from ocelot.errors import ExecutorError
from ocelot.executors import HomeFile, RegistryLogin
from ocelot.executors.archives import home_archive
from ocelot.executors.base import image_registry, login_for, registry_host
from ocelot.executors.docker import image_login
from ocelot.pipeline import load_config
from ocelot.runner import secrets
from ocelot.runner.secrets import BuildSecrets, MavenServer, home_files, maven_settings

YML = 'image: ocelot/busybox\nbuildTool: {tool}\nstages:\n  - name: a\n    script: ["true"]\n'


def test_registry_of_an_image_and_of_a_credential_url() -> None:
    assert image_registry("ocelot/busybox") == "docker.io"
    assert image_registry("127.0.0.1:5000/secret/busybox:1.0") == "127.0.0.1:5000"
    assert image_registry("localhost:5000/x@sha256:" + "a" * 64) == "localhost:5000"
    assert registry_host("https://index.docker.io/v1/") == "docker.io"
    assert registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
    assert registry_host("http://Reg.Example.com:8443/path") == "reg.example.com:8443"
    logins = [RegistryLogin("docker.io", "u", "p1"), RegistryLogin("127.0.0.1:5000", "v", "p2")]
    assert image_login("127.0.0.1:5000/secret/busybox", logins) == logins[1]
    assert image_login("busybox", logins) == logins[0]
    assert image_login("ghcr.io/x/y", logins) is None
    assert image_login("busybox", []) is None
    assert login_for("https://index.docker.io/v1/", logins) == logins[0]
    assert "p2" not in repr(logins[1])


def test_home_files_for_ssh_keys_and_maven() -> None:
    found = BuildSecrets(
        ssh_keys={"deploy": "KEY-1\n", "other": "KEY-2\n"},
        maven=[MavenServer("nexus", "bob", "p<&>w")],
    )
    files = home_files(found, load_config(YML.format(tool="maven")))
    assert files[".ssh/id_deploy"] == HomeFile("KEY-1\n", 0o600)
    assert "KEY-1" not in repr(files[".ssh/id_deploy"])
    config = files[".ssh/config"]
    assert config.mode == 0o600 and "IdentityFile ~/.ssh/id_other" in config.content
    assert "StrictHostKeyChecking accept-new" in config.content  # no known_hosts given
    settings = files[".m2/settings.xml"].content
    assert files[".m2/settings.xml"].mode == 0o600
    ns = {"m": "http://maven.apache.org/SETTINGS/1.0.0"}
    server = ElementTree.fromstring(settings).find("m:servers/m:server", ns)
    assert server is not None and server.findtext("m:password", namespaces=ns) == "p<&>w"
    assert ".m2/settings.xml" not in home_files(found, load_config(YML.format(tool="shell")))
    pinned = BuildSecrets(ssh_keys={"k": "K\n"}, known_hosts=["git.example.com ssh-ed25519 AAA"])
    files = home_files(pinned, load_config(YML.format(tool="shell")))
    assert files[".ssh/known_hosts"] == HomeFile("git.example.com ssh-ed25519 AAA\n", 0o644)
    assert "accept-new" not in files[".ssh/config"].content
    assert home_files(BuildSecrets(), load_config(YML.format(tool="maven"))) == {}


def test_the_archive_sets_owner_and_modes() -> None:
    data = home_archive(
        "/home/u",
        {".ssh/id_k": HomeFile("K\n"), ".m2/settings.xml": HomeFile("<s/>", 0o600)},
        1000,
        1000,
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["home/u/.ssh"].isdir() and members["home/u/.ssh"].mode == 0o700
    assert members["home/u/.ssh/id_k"].mode == 0o600 and members["home/u/.ssh/id_k"].uid == 1000
    assert set(members) == {
        "home/u/.ssh",
        "home/u/.m2",
        "home/u/.ssh/id_k",
        "home/u/.m2/settings.xml",
    }


def test_maven_settings_is_valid_xml_with_every_server() -> None:
    text = maven_settings([MavenServer("a", "u1", "p1"), MavenServer("b", "u2", "p2")])
    ids = [
        e.text
        for e in ElementTree.fromstring(text).iter("{http://maven.apache.org/SETTINGS/1.0.0}id")
    ]
    assert ids == ["a", "b"]


def test_the_archive_keeps_every_file_inside_home() -> None:
    data = home_archive("/root", {".netrc": HomeFile("m"), "a/b/c": HomeFile("x", 0o644)}, 0, 0)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = sorted(m.name for m in tar.getmembers())
    assert names == ["root/.netrc", "root/a", "root/a/b", "root/a/b/c"]
    for bad in ("/etc/passwd", "../x", ".ssh/../../x"):
        with pytest.raises(ExecutorError, match="not a path inside"):
            home_archive("/root", {bad: HomeFile("x")}, 0, 0)


def test_deciding_what_a_build_gets_does_not_reach_around_the_executor() -> None:
    """runner/secrets decides and renders; pulling and copying are the executor's."""
    tree = ast.parse(Path(secrets.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert not {m for m in imported if m == "docker" or m.startswith("docker.")}, imported
    assert "ocelot.executors.docker" not in imported and "ocelot.executors.local" not in imported
    assert "getattr" not in {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
