"""Which queues a worker consumes decides which builds it can take; every queue and task name
is spelled once, in ocelot/queues.py."""

from __future__ import annotations

import ast
from pathlib import Path

from ocelot import queues
from ocelot.settings import load_settings
from worker.__main__ import worker_queues

ROOT = Path(__file__).resolve().parents[2]


def test_docker_worker_takes_untagged_builds_and_its_tags() -> None:
    s = load_settings(
        {"OCELOT_HOME": "/x", "OCELOT_WORKER_NAME": "w1", "OCELOT_WORKER_TAGS": "gpu"}
    )
    assert worker_queues(s) == [
        "ocelot.worker.w1",
        "notify",
        "forge",
        "builds",
        "builds.gpu",
    ]


def test_local_worker_takes_only_its_tags() -> None:
    s = load_settings(
        {
            "OCELOT_HOME": "/x",
            "OCELOT_WORKER_NAME": "mac1",
            "OCELOT_WORKER_EXECUTOR": "local",
            "OCELOT_WORKER_TAGS": "mac",
        }
    )
    assert worker_queues(s) == ["ocelot.worker.mac1", "notify", "forge", "builds.mac"]


def test_route_and_maintenance_have_a_pool_of_their_own() -> None:
    assert queues.CONTROL_POOL_QUEUES == ("control", "maintenance")
    stage_pool = worker_queues(load_settings({"OCELOT_HOME": "/x", "OCELOT_WORKER_NAME": "w"}))
    assert not set(stage_pool) & set(queues.CONTROL_POOL_QUEUES)


def test_prepare_goes_to_the_queue_of_the_machine_tag() -> None:
    assert queues.builds_queue(None) == "builds"
    assert queues.builds_queue("mac") == "builds.mac"


class Recorder:
    """A publisher that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[object], dict[str, object]]] = []

    def send_task(self, name: str, args: list[object], **options: object) -> None:
        self.sent.append((name, args, options))

    def signature(self, *args: object, **options: object) -> object:
        raise AssertionError("not used here")


def test_each_message_goes_to_its_queue_with_ids_only() -> None:
    app = Recorder()
    queues.send_route(app, 1)
    queues.send_prepare(app, 2, "builds.mac")
    queues.send_notify(app, 3)
    queues.send_forge_report(app, 4)
    queues.send_forge_report(app, 5, comment=False)
    queues.send_poll(app, 6)
    assert [(name, args, options.get("queue")) for name, args, options in app.sent] == [
        ("ocelot.builds.route", [1], "control"),
        ("ocelot.builds.prepare", [2], "builds.mac"),
        ("ocelot.notify.build", [3], "notify"),
        ("ocelot.forge.status", [4], "forge"),
        ("ocelot.forge.comment", [4], "forge"),
        ("ocelot.forge.status", [5], "forge"),
        ("ocelot.polls.run", [6], "control"),
    ]


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_queue_and_task_names_are_spelled_only_in_ocelot_queues() -> None:
    """No ``"control"`` and no task name (``"ocelot.builds.route"``...) outside
    ocelot/queues.py, and no ``send_task`` either: publishing goes through its functions.
    (``"builds"``, ``"notify"`` and ``"forge"`` are also ordinary words of the API.)"""
    names = {queues.CONTROL} | {
        value
        for key, value in vars(queues).items()
        if key.isupper() and isinstance(value, str) and value.startswith("ocelot.")
    }
    found = []
    for package in ("ocelot", "web", "worker"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "ocelot" / "queues.py":
                continue
            text = path.read_text()
            rel = path.relative_to(ROOT)
            found += [
                f"{rel}:{line}: {value!r}"
                for line, value in _string_constants(path)
                if value in names
            ]
            if "send_task(" in text:
                found.append(f"{rel}: send_task")
    assert found == []
