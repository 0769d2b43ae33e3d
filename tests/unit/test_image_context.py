"""The context digest of an image stage: what changes it and what does not, and the context
tar Docker gets (names relative to the context, no .git)."""

from __future__ import annotations

import io
import tarfile

from ocelot.executors.image_context import (
    add_file,
    base_images,
    context_digest,
    ignore_patterns,
    repack,
)


def archive(
    files: dict[str, bytes], top: str = "workspace", mtime: int = 1, order: int = 1
) -> io.BytesIO:
    """A tar as ``get_archive`` gives it: every name under ``top``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        root = tarfile.TarInfo(top)
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(root)
        for name, data in sorted(files.items(), reverse=order < 0):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode, info.uid = len(data), mtime, 0o644, mtime
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def digest(files: dict[str, bytes], args: dict[str, str] | None = None, **kw: int) -> str:
    out = io.BytesIO()
    found = repack(archive(files, **kw), "workspace", out, keep=("Dockerfile",))
    return context_digest(found.entries, "Dockerfile", found.files["Dockerfile"], args or {})


FILES = {"Dockerfile": b"FROM ocelot/busybox\n", "app.py": b"print(1)\n", "sub/x": b"x"}


def test_the_digest_depends_on_content_names_and_args_only() -> None:
    base = digest(FILES)
    assert base.startswith("sha256:") and len(base) == 71
    # times, owners and archive order do not matter; .git does not count
    assert digest(FILES, mtime=99, order=-1) == base
    assert digest({**FILES, ".git/HEAD": b"ref", "sub/.git/config": b"x"}) == base
    # a file's content, a new file, a rename, the Dockerfile and build args do
    assert digest({**FILES, "app.py": b"print(2)\n"}) != base
    assert digest({**FILES, "new": b""}) != base
    assert digest({**{k: v for k, v in FILES.items() if k != "sub/x"}, "sub/y": b"x"}) != base
    assert digest({**FILES, "Dockerfile": b"FROM ocelot/busybox\nRUN true\n"}) != base
    assert digest(FILES, {"VERSION": "1"}) != digest(FILES, {"VERSION": "2"})


def test_the_context_tar_is_relative_to_the_context_without_git() -> None:
    out = io.BytesIO()
    files = {**FILES, ".git/HEAD": b"ref"}
    found = repack(archive(files, top="docker"), "docker", out)
    add_file(out, ".ocelot.Dockerfile", b"FROM x\n")
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        names = tar.getnames()
        assert tar.extractfile("app.py").read() == b"print(1)\n"  # type: ignore[union-attr]
    assert sorted(names) == [".ocelot.Dockerfile", "Dockerfile", "app.py", "sub/x"]
    assert found.count == 3


IGNORE = b"""# build outputs and notes
node_modules
*.md
docs/**
!docs/keep.md

"""


def test_dockerignore_patterns_leave_files_out_of_the_context_and_its_digest() -> None:
    patterns = ignore_patterns(IGNORE)
    assert patterns == ["node_modules", "*.md", "docs/**", "!docs/keep.md"]
    files = {
        **FILES,
        ".dockerignore": IGNORE,
        "README.md": b"notes",
        "node_modules/left/index.js": b"x",
        "docs/a.txt": b"a",
        "docs/keep.md": b"kept",
    }
    out = io.BytesIO()
    found = repack(archive(files), "workspace", out, keep=("Dockerfile",), ignore=patterns)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        names = sorted(name for name in tar.getnames() if not tar.getmember(name).isdir())
    # the Dockerfile and .dockerignore always go; an exception brings a file back
    assert names == [".dockerignore", "Dockerfile", "app.py", "docs/keep.md", "sub/x"]

    def with_ignore(extra: dict[str, bytes]) -> str:
        buf = io.BytesIO()
        kept = repack(
            archive({**files, **extra}), "workspace", buf, keep=("Dockerfile",), ignore=patterns
        )
        return context_digest(kept.entries, "Dockerfile", kept.files["Dockerfile"], {})

    base = with_ignore({})
    assert base == context_digest(found.entries, "Dockerfile", found.files["Dockerfile"], {})
    # an ignored file changes nothing; a kept one does
    assert with_ignore({"README.md": b"other notes", "node_modules/new.js": b"y"}) == base
    assert with_ignore({"docs/keep.md": b"changed"}) != base
    # a pattern naming the Dockerfile does not leave it out
    out = io.BytesIO()
    found = repack(archive(files), "workspace", out, keep=("Dockerfile",), ignore=["Dockerfile"])
    assert "Dockerfile" in found.files
    assert ignore_patterns(None) == [] and ignore_patterns(b"\n# only a comment\n") == []


def test_base_images_skip_earlier_stages_and_flags() -> None:
    text = (
        "FROM --platform=linux/amd64 golang:1 AS build\nRUN make\n"
        "from build as test\nFROM 127.0.0.1:5000/base:1\nFROM ${BASE}\n"
    )
    assert base_images(text) == ["golang:1", "127.0.0.1:5000/base:1", "${BASE}"]


def test_a_hostile_dockerignore_pattern_cannot_hold_the_worker() -> None:
    """``re`` backtracks for minutes on this pattern and a long name (the file comes from
    the repository, a fork's too); RE2 answers at once. Under ``re`` this test would run into
    pytest's timeout."""
    hostile = "*a" * 12 + "*b"
    out = io.BytesIO()
    files = {**FILES, ".dockerignore": hostile.encode(), "a" * 200: b"x"}
    found = repack(archive(files), "workspace", out, keep=("Dockerfile",), ignore=[hostile])
    assert "f 644" in " ".join(found.entries) and any("a" * 200 in e for e in found.entries)
