"""Playwright on Debian's Chromium against pytest-django's live server."""

import time
from pathlib import Path

import pytest

from tests import factories

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-gpu",
            # Headless Chromium turns a sideways touch swipe into Back even where the page says
            # `overscroll-behavior-x: none` (board.css), which real touch browsers honour; the
            # touch tests are about where the board puts a car, not about the browser's gesture.
            "--disable-features=OverscrollHistoryNavigation",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 768}}


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page_errors(page):
    """JavaScript errors of the page: a test asserts there are none."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A CSP violation (an inline script or style slipping in) is only a
    # console message; count it as an error of the page.
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return errors


def sign_in(page, live_server, username: str, password: str = factories.PASSWORD):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/shops/**")
    # htmx and Sortable are loaded with `defer`: wait until the board is wired.
    page.wait_for_function("() => window.htmx && window.Sortable && document.readyState === 'complete'")


def eventually(check, *, timeout: float = 10.0, interval: float = 0.1):
    """Poll `check` (e.g. a database read) until it returns truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def drag(page, source, target, *, steps: int = 25):
    """Drag with real mouse events, as a person would (pointer-based Sortable)."""
    source.scroll_into_view_if_needed()
    start = source.locator(".card__vehicle, .card__customer").first.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 8, start["y"] + start["height"] / 2 + 8, steps=4)
    box = target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + min(60, box["height"] / 2), steps=steps)
    page.mouse.up()


AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def axe_problems(page) -> list[str]:
    """Serious and critical accessibility violations axe-core finds on the page as it is now.

    Injected through the DevTools protocol (page.evaluate), which the page's CSP does not govern.
    """
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.help + ' — '"
        " + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"
    )
    return result


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def touch_drag(page, start: tuple[float, float], end: tuple[float, float], *, hold=0.6, steps=20, linger=1.2):
    """A finger: press, hold, slide to `end`, stay there `linger` s, lift.

    CDP touch events (Input.dispatchTouchEvent), not the mouse."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind, x, y):
        point = {"x": x, "y": y, "id": 1, "radiusX": 4, "radiusY": 4, "force": 1}
        points = [] if kind == "touchEnd" else [point]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", *start)
    time.sleep(hold)
    for i in range(1, steps + 1):
        share = i / steps
        touch("touchMove", start[0] + (end[0] - start[0]) * share, start[1] + (end[1] - start[1]) * share)
        time.sleep(0.02)
    time.sleep(linger)
    touch("touchEnd", *end)
    cdp.detach()


def js_heap_after_gc(cdp, *, cycles: int = 3) -> int:
    """The page's JS heap once garbage collection has settled. V8 frees some
    objects (weak maps, finalisers, detached DOM) only on a later cycle, so the
    garbage of the last refresh can survive one collection: every reading of a
    test is taken the same way, the smallest of a few collections."""
    sizes = []
    for _ in range(cycles):
        cdp.send("HeapProfiler.collectGarbage")
        metrics = cdp.send("Performance.getMetrics")["metrics"]
        sizes.append(int(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize")))
        time.sleep(0.2)
    return min(sizes)
