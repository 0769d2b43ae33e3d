"""What a build gets: registry matching, the files for $HOME, maven settings (no I/O)."""

from __future__ import annotations

import io
import tarfile
from xml.etree import ElementTree

from ocelot.pipeline import load_config
from ocelot.runner.secrets import (
    BuildSecrets,
    MavenServer,
    RegistryLogin,
    _tar,
    home_files,
    image_registry,
    login_for,
    maven_settings,
    registry_host,
)

YML = 'image: ocelot/busybox\nbuildTool: {tool}\nstages:\n  - name: a\n    script: ["true"]\n'


def test_registry_of_an_image_and_of_a_credential_url() -> None:
    assert image_registry("ocelot/busybox") == "docker.io"
    assert image_registry("127.0.0.1:5000/secret/busybox:1.0") == "127.0.0.1:5000"
    assert image_registry("localhost:5000/x@sha256:" + "a" * 64) == "localhost:5000"
    assert registry_host("https://index.docker.io/v1/") == "docker.io"
    assert registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
    assert registry_host("http://Reg.Example.com:8443/path") == "reg.example.com:8443"
    logins = [RegistryLogin("docker.io", "u", "p1"), RegistryLogin("127.0.0.1:5000", "v", "p2")]
    assert login_for("127.0.0.1:5000/secret/busybox", logins) == logins[1]
    assert login_for("busybox", logins) == logins[0]
    assert login_for("ghcr.io/x/y", logins) is None
    assert "p2" not in repr(logins[1])


def test_home_files_for_ssh_keys_and_maven() -> None:
    found = BuildSecrets(
        ssh_keys={"deploy": "KEY-1\n", "other": "KEY-2\n"},
        maven=[MavenServer("nexus", "bob", "p<&>w")],
    )
    files = home_files(found, load_config(YML.format(tool="maven")))
    assert files[".ssh/id_deploy"] == ("KEY-1\n", 0o600)
    config, mode = files[".ssh/config"]
    assert mode == 0o600 and "IdentityFile ~/.ssh/id_other" in config
    assert "StrictHostKeyChecking accept-new" in config  # no known_hosts given
    settings, mode = files[".m2/settings.xml"]
    assert mode == 0o600
    ns = {"m": "http://maven.apache.org/SETTINGS/1.0.0"}
    server = ElementTree.fromstring(settings).find("m:servers/m:server", ns)
    assert server is not None and server.findtext("m:password", namespaces=ns) == "p<&>w"
    assert ".m2/settings.xml" not in home_files(found, load_config(YML.format(tool="shell")))
    pinned = BuildSecrets(ssh_keys={"k": "K\n"}, known_hosts=["git.example.com ssh-ed25519 AAA"])
    files = home_files(pinned, load_config(YML.format(tool="shell")))
    assert files[".ssh/known_hosts"][0] == "git.example.com ssh-ed25519 AAA\n"
    assert "accept-new" not in files[".ssh/config"][0]
    assert home_files(BuildSecrets(), load_config(YML.format(tool="maven"))) == {}


def test_the_archive_sets_owner_and_modes() -> None:
    data = _tar(
        "/home/u", {".ssh/id_k": ("K\n", 0o600), ".m2/settings.xml": ("<s/>", 0o600)}, 1000, 1000
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
