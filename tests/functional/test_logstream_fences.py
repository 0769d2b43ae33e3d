"""Log fences against a real database: the per-attempt size cap (OCELOT_MAX_LOG_BYTES) and a
secret printed in pieces across a flush of an unfinished line."""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine

from ocelot.logstream import CUT_NOTICE, LogWriter, read_text
from ocelot.models.credential import MASK
from ocelot.secrets.redaction import make_redactor
from ocelot.settings import Settings
from tests.functional.test_logstream import make_build

CAP = 4096
NOTICE = CUT_NOTICE.format(size="4 KiB")


def test_past_the_cap_output_is_taken_and_dropped(engine: Engine, settings: Settings) -> None:
    build_id = make_build(engine)
    line = b"x" * 99 + b"\n"
    with LogWriter(engine, None, build_id, 1, max_bytes=CAP) as writer:
        writer.set_stage("one")
        for _ in range(1000):  # 100 KB: the writer keeps taking it (the stage keeps running)
            writer.write(line)
        assert writer.cut
        writer.line("--- stage one (try 2 of 2) ---")  # Ocelot's own lines still get in
        writer.write(b"dropped\n")
    text = read_text(engine, build_id)
    assert text.count(NOTICE) == 1
    before, after = text.split(NOTICE + "\n")
    assert len(before.encode()) <= CAP + 1  # + the newline ending a line cut in the middle
    assert before.startswith("x" * 99 + "\n") and set(before) == {"x", "\n"}
    assert after == "--- stage one (try 2 of 2) ---\n"


def test_the_cap_counts_every_stage_of_the_attempt(engine: Engine, settings: Settings) -> None:
    build_id = make_build(engine)
    with LogWriter(engine, None, build_id, 1, max_bytes=CAP) as one:
        one.set_stage("one")
        one.write(b"a" * 3000 + b"\n")
        assert not one.cut
    with LogWriter(engine, None, build_id, 1, max_bytes=CAP) as two:  # the next stage
        two.set_stage("two")
        two.line("--- stage two ---")
        two.write(b"b" * 3000 + b"\n")
        assert two.cut
    with LogWriter(engine, None, build_id, 1, max_bytes=CAP) as three:
        three.set_stage("three")
        assert three.cut  # already cut: dropped from the start, no second notice
        three.line("--- stage three ---")
        three.write(b"c" * 100 + b"\n")
    text = read_text(engine, build_id)
    assert text.count(NOTICE) == 1 and "c" * 100 not in text
    assert text.endswith(NOTICE + "\n--- stage three ---\n")
    assert len(text.encode()) <= CAP + len(NOTICE) + 60
    with LogWriter(engine, None, build_id, 2, max_bytes=CAP) as retry:  # a new attempt
        assert not retry.cut
        retry.write(b"fresh\n")
    assert read_text(engine, build_id).endswith("fresh\n")


def test_a_multibyte_log_is_capped_in_bytes(engine: Engine, settings: Settings) -> None:
    build_id = make_build(engine)
    with LogWriter(engine, None, build_id, 1, max_bytes=CAP) as writer:
        writer.write("€".encode() * 3000 + b"\n")  # 9000 bytes, 3000 characters
    text = read_text(engine, build_id)
    before = text.split(NOTICE)[0]
    assert 0 < len(before.encode()) <= CAP + 1 and set(before) == {"€", "\n"}
    with LogWriter(engine, None, build_id, 1, max_bytes=CAP) as again:
        assert again.cut  # the stored size was read back in bytes, not characters


def test_no_cap_by_default(engine: Engine, settings: Settings) -> None:
    build_id = make_build(engine)
    with LogWriter(engine, None, build_id, 1) as writer:
        writer.write(b"y" * 200_000 + b"\n")
        assert not writer.cut
    assert len(read_text(engine, build_id)) == 200_001


def test_a_secret_split_across_a_flush_is_still_masked(engine: Engine, settings: Settings) -> None:
    secret = "s3cret-value-42"
    build_id = make_build(engine)
    writer = LogWriter(engine, None, build_id, 1, redact=make_redactor([secret]))
    writer.set_stage("s")
    writer.write(b"token=s3c")
    writer.flush(partial_after=0)  # the line waited too long: stored as far as is safe
    stored = read_text(engine, build_id)
    assert stored == "token=" and "s3c" not in stored  # the line goes on in the next chunk
    writer.write(b"ret-val")
    writer.flush(partial_after=0)
    assert read_text(engine, build_id) == "token="  # still possibly a secret: held
    writer.write(b"ue-42 ok\nnext s3cret")
    writer.flush(partial_after=0)
    writer.write(b"-value-42")
    writer.close()
    text = read_text(engine, build_id)
    assert secret not in text and "s3cret" not in text
    assert text == f"token={MASK} ok\nnext {MASK}\n"  # lines whole


def test_the_ticker_flushes_a_split_secret_safely(engine: Engine, settings: Settings) -> None:
    secret = "hunter2-hunter2"
    build_id = make_build(engine)
    redact = make_redactor([secret])
    writer = LogWriter(engine, None, build_id, 1, flush_seconds=0.02, redact=redact)
    with writer:
        writer.write(b"progress 50% hunter2-")
        time.sleep(1.3)  # the ticker stores unfinished lines after a second
        assert read_text(engine, build_id) == "progress 50% "
        writer.write(b"hunter2 done\n")
    text = read_text(engine, build_id)
    assert secret not in text and text == f"progress 50% {MASK} done\n"


def test_a_plain_callable_redactor_still_works(engine: Engine, settings: Settings) -> None:
    build_id = make_build(engine)
    with LogWriter(engine, None, build_id, 1, redact=str.upper) as writer:
        writer.write(b"partial")
        writer.flush(partial_after=0)
        writer.write(b" line\n")
    assert read_text(engine, build_id) == "PARTIAL LINE\n"
