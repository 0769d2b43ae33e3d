"""Client config: the file, then OCELOT_URL / OCELOT_TOKEN over it; NO_COLOR; colours."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocelot.cli.config import DEFAULT_URL, config_path, load_client_config
from ocelot.errors import InvalidRequest


def write(home: Path, text: str) -> Path:
    path = home / ".config" / "ocelot" / "config.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_client_config({"HOME": str(tmp_path)})
    assert (config.url, config.token, config.no_color, config.path) == (
        DEFAULT_URL,
        None,
        False,
        None,
    )


def test_the_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "url: http://ci.example.com:8000/\ntoken: from-file\n")
    env = {"HOME": str(tmp_path)}
    config = load_client_config(env)
    assert (config.url, config.token, config.path) == (
        "http://ci.example.com:8000",
        "from-file",
        path,
    )
    config = load_client_config({**env, "OCELOT_URL": "http://other", "OCELOT_TOKEN": "env"})
    assert (config.url, config.token) == ("http://other", "env")
    # An empty variable does not blank out the file.
    assert load_client_config({**env, "OCELOT_TOKEN": ""}).token == "from-file"


def test_xdg_config_home_and_ocelot_config_choose_the_file(tmp_path: Path) -> None:
    assert config_path({"HOME": "/h"}) == Path("/h/.config/ocelot/config.yml")
    assert config_path({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path("/x/ocelot/config.yml")
    assert config_path({"XDG_CONFIG_HOME": "/x", "OCELOT_CONFIG": "/c.yml"}) == Path("/c.yml")


def test_colors_override_defaults_case_insensitively_and_no_color(tmp_path: Path) -> None:
    write(tmp_path, "colors:\n  failed: bold magenta\n  HASH: green\n")
    config = load_client_config({"HOME": str(tmp_path), "NO_COLOR": "1"})
    assert config.colors["FAILED"] == "bold magenta"
    assert config.colors["hash"] == "green"
    assert config.colors["PASSED"] == "bold green"
    assert config.no_color is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colors:\n  FAILED: not-a-colour\n", "colors.FAILED"),
        ("colors:\n  FAILD: red\n", "colors.FAILD: unknown"),
        ("colors: red\n", "colors must be a mapping"),
        ("- a list\n", "must be a mapping"),
        ("url: [1, 2]\n", "url must be a string"),
        ("url: 'unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_file_is_an_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidRequest) as info:
        load_client_config({"HOME": str(tmp_path)})
    assert str(path) in info.value.message and message in info.value.message
