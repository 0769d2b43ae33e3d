"""The changeset of a build: every commit message and changed path between two commits.

Webhook payloads carry the changeset when they can (GitHub pushes), part of it (GitLab lists
20 commits, Bitbucket at most 5 and never the files) or nothing (pull requests). A build's
``changeset`` is then marked ``incomplete`` with the ``before`` / ``after`` range, and the
pipeline's route step, which has the mirror at hand, completes it with :func:`complete`
before any stage evaluates ``\\text`` or ``\\filepath`` triggers. Polls compute theirs here too.

Shape of ``Build.changeset``: ``{"messages": [...], "files": [...], "before": sha?,
"after": sha?, "incomplete": bool?, "base_unknown": bool?, "source_branch": str?}``.
``base_unknown``: the push names a ``before`` commit git does not have (a force push over
history the mirror never saw), so the range is the pushed commit alone and the files may be
too few; a pipeline's ``paths:`` filter then counts them as unknown (it builds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocelot.gitops import try_git

MAX_COMMITS = 1000
MAX_FILES = 5000


def _ask_git(mirror: Path, *args: str) -> str | None:
    """Output of a read-only git command in ``mirror``, or None when it fails."""
    return try_git(args, cwd=mirror, timeout=120)


def between(mirror: Path, before: str | None, after: str) -> dict[str, Any] | None:
    """Messages (oldest first) and changed paths from ``before`` to ``after``.

    ``before`` may be any commit (a force push, a PR's base): the range starts at the merge
    base. Without a ``before`` (a new branch) the changeset is ``after`` alone; with one that
    git cannot use, too, marked ``base_unknown``. Returns None when ``after`` is not in the
    mirror."""
    if _ask_git(mirror, "cat-file", "-e", f"{after}^{{commit}}") is None:
        return None
    base = None
    if before and _ask_git(mirror, "cat-file", "-e", f"{before}^{{commit}}") is not None:
        base = (_ask_git(mirror, "merge-base", before, after) or "").strip() or None
    if base:
        log = _ask_git(
            mirror, "log", f"--max-count={MAX_COMMITS}", "--format=%B%x00", f"{base}..{after}"
        )
        diff = ["diff", "--name-only", base, after]
    else:
        log = _ask_git(mirror, "log", "-1", "--format=%B%x00", after)
        diff = ["diff-tree", "--no-commit-id", "--name-only", "-r", "--root", after]
    # git log lists newest first; a changeset reads oldest first, like the push.
    messages = [m.strip("\n") for m in reversed((log or "").split("\x00")) if m.strip()]
    files = [f for f in (_ask_git(mirror, *diff) or "").splitlines() if f][:MAX_FILES]
    found: dict[str, Any] = {"messages": messages, "files": files}
    if before and not base:
        found["base_unknown"] = True
    return found


def complete(mirror: Path, changeset: dict[str, Any] | None, commit: str) -> dict[str, Any] | None:
    """``changeset`` with the messages and files of its range filled in from ``mirror``.

    Returns the changeset unchanged when it is complete already (or absent), and keeps what the
    payload said when git cannot tell more."""
    if not changeset or not changeset.get("incomplete"):
        return changeset
    found = between(mirror, changeset.get("before"), commit)
    out = dict(changeset)
    out.pop("incomplete", None)
    if found is None:
        out["incomplete"] = True
        return out
    out["messages"] = list(dict.fromkeys([*found["messages"], *changeset.get("messages", [])]))
    out["files"] = list(dict.fromkeys([*found["files"], *changeset.get("files", [])]))
    out["after"] = commit
    if found.get("base_unknown"):
        out["base_unknown"] = True
    return out
