"""The dashboard in a real browser: Playwright driving Debian's headless ``chromium`` against
the shared stack (real HTTP server, Celery worker, Docker). Every wait is on a condition
(Playwright's ``expect`` or :func:`tests.waiting.eventually`), never a fixed sleep. On a
failure each open page is saved as a PNG in the test's ``tmp_path`` and its path printed.

Never ``playwright install``: the browser is the system's (``scripts/install-deps.sh``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.integration.browser import (
    BUILD_WAIT_MS,
    YML,
    end_build,
    expect,
    post_from_page,
    ticking_build,
)
from tests.servers import Process
from tests.stack import Stack, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_sign_in_wrong_token_and_sign_out(stack: Stack, open_page: Callable) -> None:
    page = open_page(None)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.fill("#token", "oct_not-a-token")
    page.click("#sign-in")
    expect(page.locator("#login-error")).to_have_text("invalid or revoked token")
    page.fill("#token", stack.token)
    page.click("#sign-in")
    expect(page).to_have_url(f"{stack.url}/")
    expect(page.locator(".who")).to_contain_text("integration")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["ocelot_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert stack.token not in session["value"]
    page.click("#sign-out")
    expect(page.locator(".flash")).to_have_text("signed out")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_home_lists_a_repo_with_its_last_build(
    stack: Stack, docker_worker: Process, repo_dir: Path, open_page: Callable
) -> None:
    commit = make_repo(
        repo_dir, {"ocelot.yml": YML.format(stages='  - name: s\n    script: ["echo hi"]\n')}
    )
    repo = stack.add_repo(repo_dir)
    build = stack.wait(stack.build(repo, branch="master"))
    assert build["status"] == "PASSED", stack.logs(build["id"])
    page = open_page(stack.token)
    row = page.locator(f'tr[data-repo="{repo}"]')
    expect(row).to_contain_text(f"#{build['id']} PASSED")
    expect(row).to_contain_text("master")
    expect(row).to_contain_text(commit[:7])
    expect(row.locator(".dot")).to_have_count(1)
    row.get_by_text(f"#{build['id']} PASSED").click()
    expect(page).to_have_url(f"{stack.url}/builds/{build['id']}")
    expect(page.locator("#log")).to_contain_text("hi")


def test_log_lines_appear_live_while_the_stage_runs(
    stack: Stack, docker_worker: Process, repo_dir: Path, open_page: Callable
) -> None:
    build_id = ticking_build(stack, repo_dir)
    try:
        page = open_page(stack.token)
        page.goto(f"/builds/{build_id}")
        log = page.locator("#log")
        expect(log).to_contain_text("tick-2-end", timeout=BUILD_WAIT_MS)
        # An early line is on the page and the build is still running (for minutes).
        assert stack.get(build_id)["status"] == "RUNNING"
        page.evaluate("window.ocelotSamePage = true")
        shown = page.evaluate(
            "Math.max(...document.getElementById('log').textContent"
            ".match(/tick-(\\d+)-end/g).map(s => parseInt(s.slice(5), 10)))"
        )
        for n in range(shown + 1, shown + 4):  # the next lines arrive one after another
            expect(log).to_contain_text(f"tick-{n}-end")
        assert page.evaluate("window.ocelotSamePage === true")  # streamed, not reloaded
        assert page.locator("#follow").is_checked()
        raw = page.context.request.get(f"/builds/{build_id}/log.txt")
        assert raw.ok and "tick-1-end" in raw.text()
    finally:
        end_build(stack, build_id)


def test_kill_button_read_role_and_csrf(
    stack: Stack,
    docker_worker: Process,
    repo_dir: Path,
    open_page: Callable,
    read_token: str,
) -> None:
    build_id = ticking_build(stack, repo_dir)
    try:
        reader = open_page(read_token)
        reader.goto(f"/builds/{build_id}")
        expect(reader.locator("#log")).to_contain_text("tick-1-end", timeout=BUILD_WAIT_MS)
        expect(reader.locator("#kill")).to_have_count(0)
        assert post_from_page(reader, f"/builds/{build_id}/kill", with_csrf=True) == 403

        admin = open_page(stack.token)
        admin.goto(f"/builds/{build_id}")
        expect(admin.locator("#kill")).to_be_visible()
        assert post_from_page(admin, f"/builds/{build_id}/kill", with_csrf=False) == 400
        assert stack.get(build_id)["status"] == "RUNNING"  # neither POST did anything

        admin.once("dialog", lambda dialog: dialog.accept())
        admin.click("#kill")
        expect(admin.locator("#build-status")).to_have_text("KILLED", timeout=BUILD_WAIT_MS)
        expect(admin.locator("#failure-reason")).to_contain_text("killed by integration")
        expect(admin.locator("#kill")).to_have_count(0)
        build = stack.wait(build_id, timeout=30)
        assert build["status"] == "KILLED"
    finally:
        end_build(stack, build_id)


def test_the_badge_reflects_a_failure(
    stack: Stack, docker_worker: Process, repo_dir: Path, open_page: Callable
) -> None:
    make_repo(repo_dir, {"ocelot.yml": YML.format(stages='  - name: s\n    script: ["exit 3"]\n')})
    repo = stack.add_repo(repo_dir)
    badge = f"{stack.url}/badge/{repo}.svg?branch=master"
    assert "unknown" in requests.get(badge, timeout=30).text
    build = stack.wait(stack.build(repo, branch="master"))
    assert build["status"] == "FAILED"

    def failing() -> requests.Response | None:
        resp = requests.get(badge, timeout=30)
        return resp if "failing" in resp.text else None

    resp = eventually(failing, 30, "the badge to say failing")
    assert resp.headers["Content-Type"].startswith("image/svg+xml")
    assert resp.headers["Cache-Control"] == "no-cache"
    page = open_page(None)  # no session: the badge is public
    page.goto(badge)
    expect(page.locator("svg title")).to_have_text("build: failing")
