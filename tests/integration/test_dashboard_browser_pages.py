"""More of the dashboard in a real browser (see test_dashboard_browser.py for the set-up): the
group filter, rebuild, approving a held fork pull request, a 200,000-line log, ANSI colours,
permalinks, and pages that fit a 390 px window.

With ``OCELOT_SCREENSHOTS_DIR`` set (``make screenshots`` sets it to ``docs/img``), the tests
also write the README's screenshots, so they show the pages as they are."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from ocelot.db import session_scope
from ocelot.forges.base import sign
from ocelot.services.hooks import set_webhook_secret
from tests.fakes.pull_requests import pull_request
from tests.fakes.webhooks import event_headers
from tests.integration.browser import BUILD_WAIT_MS, YML, end_build, expect, ticking_build
from tests.servers import Process
from tests.stack import Stack, git, make_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOOK_SECRET = "dashboard-browser-hook-secret-0123456789"
LONG_LINES = 200_000
NARROW = {"width": 390, "height": 844}


def shoot(page: object, name: str) -> None:
    """Write ``docs/img/<name>.png`` when asked to (``make screenshots``)."""
    where = os.environ.get("OCELOT_SCREENSHOTS_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"))  # type: ignore[attr-defined]


def add_repo(stack: Stack, path: Path, name: str, group: str | None = None) -> str:
    body = {"full_name": name, "url": str(path), "group": group}
    resp = stack.client.post("/api/v1/repos", headers=stack.auth, json=body)
    assert resp.status_code == 201, resp.get_json()
    return name


def too_wide(page: object) -> list[str]:
    """What sticks out of the window sideways (empty: the page needs no sideways scrolling)."""
    return list(
        page.evaluate(  # type: ignore[attr-defined]
            """() => document.documentElement.scrollWidth <= window.innerWidth ? [] :
                Array.from(document.querySelectorAll("body *"))
                  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
                  .map(el => el.tagName + "." + el.className).slice(0, 8)"""
        )
    )


def test_the_group_filter(stack: Stack, tmp_path: Path, open_page: Callable) -> None:
    trivial = YML.format(stages="  - name: s\n    script: [true]\n")
    make_repo(tmp_path / "r", {"ocelot.yml": trivial})
    alpha = add_repo(stack, tmp_path / "r", "groupa/web", group="alpha-team")
    beta = add_repo(stack, tmp_path / "r", "groupb/api", group="beta-team")
    page = open_page(stack.token)
    page.goto("/")
    expect(page.locator(f'tr[data-repo="{alpha}"]')).to_be_visible()
    expect(page.locator(f'tr[data-repo="{beta}"]')).to_be_visible()
    page.select_option("#group", "beta-team")  # submits by itself
    expect(page).to_have_url(re.compile(r"\?group=beta-team$"))
    expect(page.locator(f'tr[data-repo="{beta}"]')).to_be_visible()
    expect(page.locator(f'tr[data-repo="{alpha}"]')).to_have_count(0)
    expect(page.locator("section.group h2")).to_have_text(["beta-team"])
    page.select_option("#group", "")
    expect(page.locator(f'tr[data-repo="{alpha}"]')).to_be_visible()


def test_rebuild_colours_stage_sections_and_a_narrow_window(
    stack: Stack, docker_worker: Process, repo_dir: Path, open_page: Callable, browser: object
) -> None:
    stages = (
        "  - name: colours\n    script:\n"
        "      - printf '\\033[31mred words\\033[0m plain\\n'\n"
        "      - printf '\\033[1;32mbold green\\033[0m\\n'\n"
        "  - name: second\n    script: ['echo second stage']\n"
    )
    make_repo(repo_dir, {"ocelot.yml": YML.format(stages=stages)})
    repo = stack.add_repo(repo_dir)
    first = stack.wait(stack.build(repo, branch="master"))
    assert first["status"] == "PASSED", stack.logs(first["id"])

    page = open_page(stack.token)
    page.goto(f"/builds/{first['id']}")
    red = page.locator("#log .fg1", has_text="red words")
    expect(red).to_have_count(1)
    assert page.evaluate("getComputedStyle(document.querySelector('#log .fg1')).color") != (
        page.evaluate("getComputedStyle(document.querySelector('#log .ln .t')).color")
    )
    expect(page.locator("#log .b.fg2")).to_have_text("bold green")
    sections = page.locator("#log details.sec")
    expect(sections.locator(".sec-name")).to_have_text(["colours", "second"])
    expect(page.locator('details.sec[data-stage="colours"] .sec-status')).to_have_text("PASSED")
    # a section folds away and opens again
    page.click('details.sec[data-stage="colours"] > summary')
    expect(page.locator('details.sec[data-stage="colours"] .lines')).to_be_hidden()
    page.click('details.sec[data-stage="colours"] > summary')
    expect(red).to_be_visible()
    shoot(page, "build")

    narrow = browser.new_context(base_url=stack.url, viewport=NARROW)  # type: ignore[attr-defined]
    try:
        small = narrow.new_page()
        small.goto("/login")
        small.fill("#token", stack.token)
        small.click("#sign-in")
        for path in ("/", f"/builds/{first['id']}", f"/repos/{repo}", "/queue"):
            small.goto(path)
            expect(small.locator("main")).to_be_visible()
            assert not too_wide(small), f"{path} is wider than 390 px: {too_wide(small)}"
        small.goto(f"/builds/{first['id']}")
        shoot(small, "build-narrow")
    finally:
        narrow.close()

    page.click("#rebuild")
    expect(page.locator(".flash")).to_contain_text(f"a rebuild of build {first['id']}")
    second_id = int(re.search(r"/builds/(\d+)$", page.url).group(1))  # type: ignore[union-attr]
    assert second_id != first["id"]
    # the header follows the build to its end without a reload
    expect(page.locator("#build-status")).to_have_text("PASSED", timeout=BUILD_WAIT_MS)
    expect(page.locator("#log")).to_contain_text("second stage")
    rebuilt = stack.get(second_id)
    assert rebuilt["hash"] == first["hash"] and rebuilt["status"] == "PASSED"


def test_approving_a_held_fork_pull_request(
    stack: Stack,
    docker_worker: Process,
    tmp_path: Path,
    open_page: Callable,
    read_token: str,
) -> None:
    root = tmp_path / "upstream"
    make_repo(root, {"ocelot.yml": YML.format(stages="  - name: s\n    script: [true]\n")})
    fork_yml = YML.format(stages="  - name: check\n    script: ['echo from the fork']\n")
    sha = make_repo(root, {"ocelot.yml": fork_yml}, branch="feature", message="a fork's change")
    git("update-ref", "refs/pull/5/head", sha, cwd=root)
    git("checkout", "-q", "master", cwd=root)
    repo = stack.add_repo(root, "dashfork/app")
    with session_scope(stack.engine) as session:
        set_webhook_secret(session, stack.settings, repo, HOOK_SECRET)
    fixture, data = pull_request("github", repo, fork="stranger/app", sha=sha, number=5)
    headers = {
        **event_headers(fixture),
        "X-Hub-Signature-256": sign(HOOK_SECRET, data),
        "Content-Type": "application/json",
    }
    resp = requests.post(f"{stack.url}/hooks/github", data=data, headers=headers, timeout=30)
    assert resp.status_code == 202, resp.text
    build_id = resp.json()["build_id"]
    assert resp.json()["held_for_approval"] == [build_id]

    reader = open_page(read_token)
    reader.goto(f"/builds/{build_id}")
    expect(reader.locator("#build-status")).to_have_text("PENDING_APPROVAL")
    expect(reader.locator("#approve")).to_have_count(0)

    page = open_page(stack.token)
    page.goto(f"/builds/{build_id}")
    expect(page.locator("#pending-reason")).to_contain_text(f"ocelot approve {build_id}")
    expect(page.locator("#trust-line")).to_contain_text("stranger/app")
    shoot(page, "approval")
    page.click("#approve")
    expect(page.locator(".flash")).to_contain_text("approved")
    expect(page.locator("#build-status")).to_have_text("PASSED", timeout=BUILD_WAIT_MS)
    expect(page.locator("#trust-line")).to_contain_text("approved by integration")
    expect(page.locator("#log")).to_contain_text("from the fork")
    # the live reader page follows too
    expect(reader.locator("#build-status")).to_have_text("PASSED", timeout=BUILD_WAIT_MS)


def test_a_200000_line_log_opens_at_its_tail_and_scrolls(
    stack: Stack, docker_worker: Process, repo_dir: Path, open_page: Callable
) -> None:
    stages = f"  - name: flood\n    script: [\"seq 1 {LONG_LINES} | sed 's/^/row-/'\"]\n"
    make_repo(repo_dir, {"ocelot.yml": YML.format(stages=stages)})
    build = stack.wait(stack.build(stack.add_repo(repo_dir), branch="master"), timeout=180)
    assert build["status"] == "PASSED", stack.logs(build["id"])[-2000:]

    page = open_page(stack.token)
    page.goto(f"/builds/{build['id']}")
    flood = page.locator('details.sec[data-stage="flood"]')
    last_line = flood.locator(".ln").last
    expect(last_line).to_contain_text(f"row-{LONG_LINES}")
    total = int(page.get_attribute("#log", "data-total") or 0)
    assert total > LONG_LINES
    shown = page.locator("#log .ln").count()
    assert shown <= 1000, shown  # the tail, not the whole log
    # the page is usable: it scrolls to the bottom and back
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(last_line).to_be_in_viewport()
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator("#build-head")).to_be_in_viewport()

    first_shown = int(flood.get_attribute("data-lo") or 0)
    flood.locator("button.more.earlier").click()
    expect(flood).to_have_attribute("data-lo", str(first_shown - 1000))
    expect(page.locator(f"#L{first_shown - 1000}")).to_have_count(1)
    assert page.locator("#log .ln").count() == shown + 1000

    # a permalink far up loads the lines around it and marks the line
    stage_start = int(flood.get_attribute("data-first") or 0)
    target = stage_start + 119  # "row-119": the banner is the stage's first line
    page.goto(f"/builds/{build['id']}#L{target}")
    line = page.locator(f"#L{target}")
    expect(line).to_contain_text("row-119")
    expect(line).to_have_class(re.compile(r"\bhl\b"))
    expect(line).to_be_in_viewport()
    assert not page.is_checked("#follow")  # reading a line stops the page jumping to the end
    flood.locator("button.more.later").click()
    expect(page.locator(f"#L{target + 600}")).to_contain_text(f"row-{119 + 600}")


def test_live_stage_status_and_queue_page(
    stack: Stack, docker_worker: Process, repo_dir: Path, open_page: Callable
) -> None:
    build_id = ticking_build(stack, repo_dir)
    try:
        page = open_page(stack.token)
        page.goto(f"/builds/{build_id}")
        expect(page.locator("#log")).to_contain_text("tick-3-end", timeout=BUILD_WAIT_MS)
        row = page.locator('#stages-table tr[data-stage="ticking"]')
        expect(row).to_contain_text("RUNNING")
        expect(page.locator('details.sec[data-stage="ticking"] .sec-status')).to_have_text(
            "RUNNING"
        )
        expect(page.locator("#build-status")).to_have_text("RUNNING")
        shoot(page, "build-live")
        page.goto("/queue")
        worker = page.locator('tr.worker-row[data-worker="docker-1"]')
        expect(worker).to_contain_text("alive")
        expect(worker.locator(f'[data-build="{build_id}"]')).to_be_visible()
        shoot(page, "queue")
        page.goto("/")
        shoot(page, "home")
    finally:
        end_build(stack, build_id)
