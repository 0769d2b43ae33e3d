"""The warm pool's bookkeeping without Docker: names, which images stay warm and how many
containers each gets, and the background remover that takes clean-up off a build's path."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ocelot.executors import BuildKey, warm_pool
from ocelot.executors.docker import DockerExecutor, container_name
from ocelot.runner import remover


def test_a_claimed_container_is_found_by_its_build_key() -> None:
    key = BuildKey(1234, 2)
    for instance in ("", "inst1"):
        name = container_name(key, instance)
        assert warm_pool.key_from_name(name, instance) == key
        assert warm_pool.key_from_name("/" + name, instance) == key
        assert not warm_pool.is_unclaimed(name, instance)
        pooled = warm_pool.pool_prefix(instance, "w 1") + "abc"
        assert warm_pool.is_unclaimed(pooled, instance) and pooled.startswith("ocelot-")
        assert warm_pool.key_from_name(pooled, instance) is None
        assert warm_pool.key_from_name(container_name(key, instance) + "-stage", instance) is None
    assert warm_pool.volume_of({warm_pool.LABEL_POOL: "t0k"}, "i") == "ocelot-ws-i-pool-t0k"
    assert warm_pool.volume_of({}, "i") is None


def test_recent_images_get_the_pool_newest_first(tmp_path: Path) -> None:
    executor = DockerExecutor("w", instance="i", warm=3, pool_root=tmp_path)
    directory = warm_pool.pool_dir(executor)
    assert directory is not None
    warm_pool.note_use(directory, "old:1")
    warm_pool.note_use(directory, "new:2")
    old, new = sorted(directory.glob("image-*"), key=lambda p: p.read_text())[::-1]
    now = time.time()
    os.utime(old, (now - 60, now - 60))
    os.utime(new, (now, now))
    assert warm_pool.recent_images(directory) == ["new:2", "old:1"]
    filler = warm_pool.Filler(executor, max_builds=2)
    assert filler.targets() == {"new:2": 2, "old:1": 1}
    stale = now - warm_pool.RECENT_SECONDS - 5
    os.utime(old, (stale, stale))
    assert filler.targets() == {"new:2": 3}  # an image not used for an hour goes cold
    assert warm_pool.pool_dir(DockerExecutor("w", warm=0, pool_root=tmp_path)) is None


def test_the_remover_runs_inline_unless_enabled_then_in_the_background() -> None:
    ran: list[str] = []
    remover.submit(lambda: ran.append(threading.current_thread().name), "inline")
    assert ran == [threading.current_thread().name]  # not a worker process: at once

    remover.enable()
    try:
        _in_the_background(ran)
    finally:
        remover.disable()
    ran.clear()
    remover.submit(lambda: ran.append(threading.current_thread().name), "inline again")
    assert ran == [threading.current_thread().name]


def _in_the_background(ran: list[str]) -> None:
    gate = threading.Event()

    def slow() -> None:
        gate.wait(10)
        ran.append(threading.current_thread().name)

    remover.submit(slow, "slow")  # returns before the job ran
    assert len(ran) == 1
    remover.submit(lambda: (_ for _ in ()).throw(RuntimeError("boom")), "failing")
    assert not remover.drain(timeout=0.2)  # still queued
    gate.set()
    assert remover.drain(timeout=10)  # a failing job does not stop the queue
    assert ran[1] == "ocelot-remover"
