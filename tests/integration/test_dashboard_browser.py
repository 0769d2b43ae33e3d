"""The dashboard in a real browser: Playwright driving Debian's headless ``chromium`` against
the shared stack (real HTTP server, Celery worker, Docker). Every wait is on a condition
(Playwright's ``expect`` or :func:`tests.waiting.eventually`), never a fixed sleep. On a
failure each open page is saved as a PNG in the test's ``tmp_path`` and its path printed.

Never ``playwright install``: the browser is the system's (``scripts/install-deps.sh``)."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from ocelot.db import session_scope
from ocelot.services.tokens import create_token, revoke_token
from tests.conftest import require
from tests.servers import Process
from tests.stack import Stack, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 30_000  # Playwright's waits: generous, they return as soon as the condition holds
BUILD_WAIT_MS = 90_000  # a build to start or end in Docker

YML = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
stages:
{stages}
"""
# A stage that prints a numbered line every half second for five minutes: the tests end it.
TICKING = (
    "  - name: ticking\n    script:\n"
    "      - 'for i in $(seq 1 600); do echo \"tick-$i-end\"; sleep 0.5; done'\n"
)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require(shutil.which(CHROMIUM) is not None, f"{CHROMIUM} is not installed (apt chromium)")
    driver = playwright_api.sync_playwright().start()
    try:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        driver.stop()


@pytest.fixture
def open_page(
    browser: object, stack: Stack, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str | None], object]]:
    """``open_page(token)``: a page in a fresh browser context (its own cookies), signed in
    with ``token`` when given. Every page is screenshotted if the test fails."""
    contexts: list[object] = []
    pages: list[object] = []
    failed_before = request.session.testsfailed

    def make(token: str | None) -> object:
        context = browser.new_context(base_url=stack.url)  # type: ignore[attr-defined]
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        if token is not None:
            sign_in(page, token)
        return page

    yield make
    if request.session.testsfailed > failed_before:
        for n, page in enumerate(pages):
            path = tmp_path / f"failure-{n}.png"
            try:
                page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
                print(f"screenshot of page {n} ({page.url}): {path}")  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - a broken page must not hide the failure
                print(f"no screenshot of page {n}: {exc}")
    for context in contexts:
        context.close()  # type: ignore[attr-defined]


def sign_in(page: object, token: str) -> None:
    page.goto("/login")  # type: ignore[attr-defined]
    page.fill("#token", token)  # type: ignore[attr-defined]
    page.click("#sign-in")  # type: ignore[attr-defined]
    expect(page.locator("#sign-out")).to_be_visible()  # type: ignore[attr-defined]


@pytest.fixture
def read_token(stack: Stack) -> Iterator[str]:
    name = f"dash-read-{uuid.uuid4().hex[:8]}"
    with session_scope(stack.engine) as session:
        token = create_token(session, name, role="read")
    yield token
    with session_scope(stack.engine) as session:
        revoke_token(session, name)


def ticking_build(stack: Stack, repo_dir: Path) -> int:
    make_repo(repo_dir, {"ocelot.yml": YML.format(stages=TICKING)})
    return stack.build(stack.add_repo(repo_dir), branch="master")


def end_build(stack: Stack, build_id: int) -> None:
    """Kill a ticking build if a test left it running, and wait until it is final."""
    if stack.get(build_id)["status"] not in ("KILLED", "PASSED", "FAILED"):
        stack.client.post(f"/api/v1/builds/{build_id}/kill", headers=stack.auth)
    stack.wait(build_id, timeout=90)


def post_from_page(page: object, path: str, with_csrf: bool) -> int:
    """POST a form from inside the page (its cookies), as a person's own script could."""
    return int(
        page.evaluate(  # type: ignore[attr-defined]
            """async ([path, withCsrf]) => {
                const body = new URLSearchParams();
                if (withCsrf) {
                    body.set("csrf_token",
                             document.querySelector('meta[name="csrf-token"]').content);
                }
                const resp = await fetch(path, {method: "POST", body, redirect: "manual"});
                return resp.status;
            }""",
            [path, with_csrf],
        )
    )


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
