"""Browser fixtures for the dashboard's tests: Playwright driving Debian's headless
``chromium`` (never ``playwright install``: the browser is the system's, installed by
``scripts/install-deps.sh``). Pages get fresh contexts, are screenshotted when a test fails,
and every wait is on a condition. Registered for the tier by tests/integration/conftest.py."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ocelot.db import session_scope
from ocelot.services.tokens import create_token, revoke_token
from tests.conftest import require
from tests.stack import Stack, make_repo

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
