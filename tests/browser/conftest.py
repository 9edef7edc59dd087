"""Browser tests: Playwright for Python driving Debian's Chromium against a live server.

Chromium is never downloaded: ``/usr/bin/chromium`` (``apt-get install chromium``) is
required. Without it these tests fail with a message saying so, unless SKIP_BROWSER_TESTS=1
is set on purpose. Screenshots of every step are kept under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
# axe-core, the npm package, under the gitignored .axe-core/ (scripts/test installs it; so do
# the accessibility tests when it is missing). Its version is set in scripts/_venv.sh.
AXE_DIR = ROOT / ".axe-core"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# What counts: WCAG 2.1 A and AA rules, violations of serious or critical impact.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def require_chromium(path: str = CHROMIUM, environ=os.environ) -> None:
    """Fail when Chromium is missing; skip instead only when SKIP_BROWSER_TESTS=1 says so."""
    if os.access(path, os.X_OK):
        return
    message = (
        f"{path} is missing: the browser tests drive Debian's Chromium "
        "(apt-get install chromium). Set SKIP_BROWSER_TESTS=1 to skip them on purpose."
    )
    if environ.get("SKIP_BROWSER_TESTS") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="package")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test's thread; the test still talks to
    # the database synchronously, which Django refuses inside a running loop unless told.
    # Told only while the browser is open, so the rest of the suite (and any subprocess it
    # starts, such as the deploy check) keeps Django's async-safety check. One browser for the
    # browser tests, opened once (a second or two each time) and closed when a process moves
    # past this package: the tests of one process run in the order collected, so nothing
    # outside tests/browser runs while it is open.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Shots:
    """Numbered screenshots of one test's steps, as JPEG: a person reads them, and Chromium
    encodes a whole page as JPEG in a little over half the time PNG takes (238 against 433 ms
    for a tall page); a run takes about fifty."""

    def __init__(self, test_name: str) -> None:
        self.folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in (*self.folder.glob("*.png"), *self.folder.glob("*.jpg")):
            old.unlink()
        self.count = 0

    def __call__(self, page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', step)}.jpg"
        page.screenshot(path=str(path), full_page=True, type="jpeg", quality=80)
        return path


@pytest.fixture
def shots(request) -> Shots:
    return Shots(request.node.name)


def _open_context(chromium, *, java_script_enabled: bool = True):
    # A tablet in landscape: the desk is used on one at the drop-in.
    context = chromium.new_context(
        viewport={"width": 1180, "height": 820},
        has_touch=True,
        java_script_enabled=java_script_enabled,
        locale="en-CA",
        timezone_id="America/Vancouver",
    )
    context.set_default_timeout(10_000)
    return context


class CspWatch:
    """Collects every Content-Security-Policy violation the page reports."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def attach(self, page) -> None:
        page.on(
            "console",
            lambda msg: self.violations.append(msg.text) if "Content Security Policy" in msg.text else None,
        )


@pytest.fixture
def csp_watch() -> CspWatch:
    return CspWatch()


@pytest.fixture
def page(chromium, csp_watch):
    context = _open_context(chromium)
    page = context.new_page()
    csp_watch.attach(page)
    yield page
    context.close()
    assert csp_watch.violations == [], f"Content-Security-Policy violations: {csp_watch.violations}"


@pytest.fixture
def page_without_js(chromium):
    context = _open_context(chromium, java_script_enabled=False)
    page = context.new_page()
    yield page
    context.close()


def admin_login(page, live_server, username: str, password: str = PASSWORD, next_url: str = "/admin/desk/") -> None:
    """Log in as `username`, whoever was logged in before. The session is saved on every request
    (SESSION_SAVE_EVERY_REQUEST), so a request the previous page still had in flight (its
    favicon) can set the old session's cookie again after the cookies were cleared; the admin's
    login page then redirects to the index. Clear and ask again until the login form is shown."""
    login_url = f"{live_server.url}/admin/login/?next={next_url}"
    for _ in range(5):
        page.context.clear_cookies()
        page.goto(login_url)
        if page.url == login_url:
            break
        page.wait_for_timeout(200)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{next_url}")


def _axe_version() -> str:
    text = (ROOT / "scripts" / "_venv.sh").read_text()
    return re.search(r"^AXE_CORE_VERSION=(\S+)$", text, re.M).group(1)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The axe-core script, installed from npm into .axe-core/ if it is not there yet."""
    if not AXE_JS.exists():
        try:
            subprocess.run(
                ["npm", "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--silent",
                 "--prefix", str(AXE_DIR), f"axe-core@{_axe_version()}"],
                check=True, timeout=300, capture_output=True,
            )
        except (OSError, subprocess.SubprocessError) as error:
            pytest.fail(f"axe-core could not be installed with npm ({error}); run scripts/test once with network.",
                        pytrace=False)
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page, axe_source: str) -> list[str]:
    """Serious and critical WCAG 2.1 A/AA violations on the page as it is now, one line each.
    axe is evaluated by the browser's debugging protocol, not added as a script tag, so the
    page's Content-Security-Policy stays as strict as it is; its preload of the stylesheets is off,
    because it copies them into inline <style> elements, which that policy refuses (seen on the
    batch page), and only a rule about screen orientation reads them."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'], preload: false})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))",
        AXE_TAGS,
    )
    return [f"{v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['targets'])}"
            for v in results if v["impact"] in ("serious", "critical")]
