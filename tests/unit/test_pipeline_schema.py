"""The packaged JSON Schema and the value grammars it refers to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import ocelot.pipeline
from ocelot.errors import ConfigError
from ocelot.pipeline import get_schema, parse_duration, schema_text
from ocelot.pipeline.parser import parse
from ocelot.pipeline.schema import coerce_strings, normalise_workdir

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "ocelot_yml"


def test_schema_is_packaged_next_to_the_module_and_is_valid_2020_12() -> None:
    packaged = Path(ocelot.pipeline.__file__).with_name("ocelot.schema.json")
    assert json.loads(packaged.read_text()) == json.loads(schema_text()) == get_schema()
    schema = get_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_get_schema_returns_a_copy() -> None:
    get_schema()["properties"].clear()
    assert "stages" in get_schema()["properties"]


def test_schema_covers_the_original_keys_and_the_additions() -> None:
    schema = get_schema()
    top = schema["properties"]
    stage = schema["$defs"]["stage"]["properties"]
    for key in ("image", "machineTag", "buildTool", "branches", "env", "stages", "notify"):
        assert key in top
    for key in ("packages", "working_dir", "timeout"):
        assert key in top
    for key in ("name", "script", "env", "trigger", "triggers", "working_dir", "image"):
        assert key in stage
    for key in ("timeout", "retry", "allow_failure"):
        assert key in stage
    notify = schema["$defs"]["notify"]["properties"]
    assert set(notify) == {"slack", "email"}
    assert schema["$defs"]["events"]["items"]["enum"] == ["PASS", "FAIL", "FIXED", "CHANGED"]


@pytest.mark.parametrize("path", sorted((GOLDEN / "valid").glob("*.yml")), ids=lambda p: p.stem)
def test_valid_goldens_satisfy_the_raw_schema(path: Path) -> None:
    doc = parse(path.read_text())
    data = coerce_strings(doc.data, doc.raw)
    errors = list(Draft202012Validator(get_schema()).iter_errors(data))
    assert all(e.validator == "additionalProperties" for e in errors), errors


def test_coercion_only_where_a_string_is_wanted() -> None:
    doc = parse("buildTool: 1.0\ntimeout: 90\nstages:\n- retry: 2\n  script: [true, 3]\n")
    data = coerce_strings(doc.data, doc.raw)
    assert data["buildTool"] == "1.0" and data["timeout"] == 90
    assert data["stages"][0] == {"retry": 2, "script": ["true", "3"]}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2h0m5s", 7205),
        ("600", 600),
        (45, 45),
        (1.5, 1.5),
        (" 5m ", 300),
    ],
)
def test_parse_duration(value: str | int | float, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "h", "10 minutes", "1m1h", "5x", "-5s", "1.5h"])
def test_parse_duration_rejects(value: str) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [0, "0s", "0", -1, float("inf"), float("nan")])
def test_parse_duration_rejects_non_positive(value: str | float) -> None:
    with pytest.raises(ConfigError, match="greater than zero"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, None, [1]])
def test_parse_duration_rejects_other_types(value: object) -> None:
    with pytest.raises(ConfigError):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("src", "src"),
        ("./src/", "src"),
        ("a/../b", "b"),
        (".", "."),
        ("", "."),
        ("/abs", None),
        ("..", None),
        ("../x", None),
        ("a/../../x", None),
        ("a\0b", None),
    ],
)
def test_normalise_workdir(value: str, normal: str | None) -> None:
    assert normalise_workdir(value) == normal
