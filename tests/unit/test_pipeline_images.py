"""build_image stages in ocelot.yml: the schema and linter messages (with their lines), the
typed config, and the placeholder and reference grammars."""

from __future__ import annotations

import pytest

from ocelot.errors import ConfigError
from ocelot.pipeline import lint, load_config
from ocelot.pipeline.images import (
    ImageBuild,
    expand,
    reference_problem,
    reference_registry_and_tag,
    tag_safe,
)

HEAD = "image: ocelot/busybox\nbuildTool: docker\nenv: [APP=web]\nstages:\n"


def messages(text: str) -> list[str]:
    return [str(issue) for issue in lint(HEAD + text)]


def test_a_valid_image_stage_becomes_typed_config() -> None:
    config = load_config(
        HEAD
        + "  - name: image\n"
        + "    build_image:\n"
        + "      context: docker/\n"
        + "      tags: ['127.0.0.1:5000/acme/{APP}:{GIT_HASH_SHORT}']\n"
        + "      push: registry\n"
        + "      build_args: {VERSION: 1.10, TOKEN: '{API_TOKEN}'}\n"
        + "  - name: test\n"
        + '    image: "{BUILT}"\n'
        + "    script: [pytest]\n"
    )
    image, test = config.stages
    assert image.script == () and test.image == "{BUILT}"
    assert image.build_image == ImageBuild(
        dockerfile="docker/Dockerfile",
        context="docker",
        tags=("127.0.0.1:5000/acme/{APP}:{GIT_HASH_SHORT}",),
        push="registry",
        build_args={"VERSION": "1.10", "TOKEN": "{API_TOKEN}"},  # the YAML text, not 1.1
    )
    assert load_config(HEAD + "  - build_image: {tags: [a]}\n").stages[0].build_image == (
        ImageBuild("Dockerfile", ".", ("a",))
    )


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ("  - name: x\n", "ocelot.yml:5: stages[0].script: Script for stage x should not be empty"),
        (
            "  - name: x\n    script: [ls]\n    build_image: {tags: [a]}\n",
            "ocelot.yml:7: stages[0].build_image: stage x has both script and build_image: "
            "a stage runs a script or builds an image, not both",
        ),
        (
            "  - name: x\n    build_image: {context: .}\n",
            "ocelot.yml:6: stages[0].build_image.tags: build_image of stage x needs tags: "
            "the references to tag the image with",
        ),
        (
            "  - name: x\n    build_image: {tags: ['app:{NOPE}']}\n",
            "ocelot.yml:6: stages[0].build_image.tags[0]: {NOPE} is not a variable of this "
            "stage: use Ocelot's build variables (GIT_HASH_SHORT, GIT_BRANCH, BUILD_ID, ...) "
            "or a name of env",
        ),
        (
            "  - name: x\n    build_image: {tags: ['Acme/App:1']}\n",
            "ocelot.yml:6: stages[0].build_image.tags[0]: tag 'Acme/App:1' is not an image "
            "reference: [registry[:port]/]name[:tag], the name in lower case (letters, digits, "
            "'.', '_', '-' and '/')",
        ),
        (
            "  - name: x\n    build_image: {tags: [a], context: ../up}\n",
            "ocelot.yml:6: stages[0].build_image.context: context '../up' must stay inside the "
            "checkout (relative, not absolute, not leaving it with '..')",
        ),
        (
            "  - name: x\n    build_image: {tags: [a], build_args: {A: [1]}}\n",
            "ocelot.yml:6: stages[0].build_image.build_args.A: build arguments must be strings, "
            "got a list",
        ),
        (
            "  - name: x\n    image: ocelot/busybox\n    build_image: {tags: [a]}\n",
            "ocelot.yml:6: stages[0].image: a build_image stage runs no container of its own, "
            "so image has no meaning here",
        ),
        (
            '  - name: x\n    image: "{BUILT}"\n    script: [ls]\n',
            'ocelot.yml:6: stages[0].image: image "{BUILT}" needs an earlier stage with '
            "build_image: none comes before",
        ),
        (
            "  - name: x\n    build_image: {tags: [a]}\n  - name: y\n    image: {BUILT}\n"
            "    script: [ls]\n",
            'ocelot.yml:8: stages[1].image: image must be a string, got a mapping (write "{BUILT}" '
            "in quotes for the image an earlier build_image stage made)",
        ),
    ],
)
def test_image_stage_problems_have_their_line(stage: str, message: str) -> None:
    assert message in messages(stage)


def test_known_variables_and_env_names_are_fine_in_tags() -> None:
    text = (
        "  - name: x\n    env: [EXTRA=1]\n    build_image:\n"
        "      tags: ['r.io:5000/a/{APP}-{EXTRA}:{GIT_BRANCH}-{BUILD_ID}-{GIT_HASH_SHORT}']\n"
    )
    assert messages(text) == []
    with pytest.raises(ConfigError):
        load_config(HEAD + "  - name: x\n    build_image: {tags: ['app:{NOPE}']}\n")


def test_placeholders_and_references() -> None:
    env = {"GIT_BRANCH": "feature/New x", "BUILD_ID": "12"}
    missing: list[str] = []
    assert expand("app:{GIT_BRANCH}-{BUILD_ID}", env, safe=True) == "app:feature-New-x-12"
    assert expand("{GIT_BRANCH}{GONE}", env, missing=missing.append) == "feature/New x"
    assert missing == ["GONE"] and expand("{BUILT}", {}) == "{BUILT}"
    assert tag_safe("a/b c") == "a-b-c"
    assert reference_problem("127.0.0.1:5000/acme/app:1.0") is None
    assert reference_problem("app:") is not None and reference_problem("a" * 256) is not None
    assert reference_registry_and_tag("127.0.0.1:5000/a/b:1") == ("127.0.0.1:5000/a/b", "1",
                                                                "127.0.0.1:5000")  # fmt: skip
    assert reference_registry_and_tag("team/app") == ("team/app", "latest", "docker.io")
