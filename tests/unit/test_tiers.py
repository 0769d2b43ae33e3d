"""Every test belongs to a tier, named by its directory; a test anywhere else fails collection."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tier_directory

MAIN = Path(__file__).resolve().parents[2]
ROOT = MAIN / "tests"


@pytest.mark.parametrize(
    ("relative", "directory"),
    [
        ("unit/test_a.py", "unit"),
        ("functional/test_a.py", "functional"),
        ("integration/test_a.py", "integration"),
        ("security/test_a.py", "security"),
        ("unit/deeper/test_a.py", "unit"),
        ("test_a.py", None),
        ("fakes/test_a.py", None),
        ("fixtures/unit/test_a.py", None),
        ("../bench/test_a.py", None),
    ],
)
def test_the_tier_is_the_directory_right_under_tests(relative: str, directory: str | None) -> None:
    assert tier_directory(ROOT / relative, ROOT) == directory


def test_a_path_outside_the_tests_directory_has_no_tier(tmp_path: Path) -> None:
    assert tier_directory(tmp_path / "unit" / "test_a.py", ROOT) is None


def run_pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(MAIN)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_stray_test_fails_the_collection_with_its_name(tmp_path: Path) -> None:
    """A throwaway tree with this suite's pytest.ini and collection hook, one test in a tier
    and one right under tests/: the run stops with a usage error naming the stray."""
    shutil.copy(MAIN / "pytest.ini", tmp_path / "pytest.ini")
    tests = tmp_path / "tests"
    (tests / "unit").mkdir(parents=True)
    (tests / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
    )
    (tests / "unit" / "test_fine.py").write_text(
        "def test_fine(request):\n    assert request.node.get_closest_marker('unit')\n"
    )
    (tests / "test_stray.py").write_text("def test_stray():\n    pass\n")

    stray = run_pytest(tmp_path)
    assert stray.returncode == pytest.ExitCode.USAGE_ERROR, stray.stdout + stray.stderr
    assert "1 test(s) outside the tiers: tests/test_stray.py::test_stray" in stray.stderr

    fine = run_pytest(tmp_path, "tests/unit")
    assert fine.returncode == pytest.ExitCode.OK, fine.stdout + fine.stderr
    assert "1 passed" in fine.stdout
