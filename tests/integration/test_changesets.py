"""Completing a truncated webhook changeset from a real git repository (what ``route`` does)."""

from __future__ import annotations

from pathlib import Path

from ocelot.services.changesets import complete
from tests.stack import git, make_repo


def test_incomplete_changeset_is_filled_from_the_merge_base(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    base = make_repo(repo, {"README": "x"}, message="base")
    make_repo(repo, {"a/one.txt": "1"}, message="one")
    head = make_repo(repo, {"b/two.txt": "2"}, message="two [skip ci]")
    partial = {"messages": ["two [skip ci]"], "files": [], "before": base, "incomplete": True}
    full = complete(repo / ".git", partial, head)
    assert full is not None and "incomplete" not in full
    assert full["messages"] == ["one", "two [skip ci]"]
    assert full["files"] == ["a/one.txt", "b/two.txt"]


def test_a_force_push_uses_the_merge_base_and_a_new_branch_its_head(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    base = make_repo(repo, {"README": "x"}, message="base")
    gone = make_repo(repo, {"old.txt": "o"}, message="rewritten away")
    git("reset", "-q", "--hard", base, cwd=repo)
    head = make_repo(repo, {"new.txt": "n"}, message="new")
    forced = complete(repo / ".git", {"before": gone, "incomplete": True}, head)
    assert forced is not None and forced["messages"] == ["new"] and forced["files"] == ["new.txt"]
    fresh = complete(repo / ".git", {"incomplete": True}, head)
    assert fresh is not None and fresh["messages"] == ["new"]
    unknown = complete(repo / ".git", {"incomplete": True, "messages": ["m"]}, "f" * 40)
    assert unknown is not None and unknown["incomplete"] is True and unknown["messages"] == ["m"]
    assert complete(repo / ".git", {"messages": ["x"], "files": []}, head) == {
        "messages": ["x"],
        "files": [],
    }
