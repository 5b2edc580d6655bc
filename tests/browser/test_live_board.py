"""The live board in Chromium (issue 13, SPEC §7): a move shows on another open
board within a second through the event stream; with the stream refused the
board still refreshes by polling; after 30 s without a connection, during which
5 cars moved, the board shows all 5 within 2 s of coming back.

The site runs on uvicorn (the asgi_live_server fixture), as production serves
the stream.
"""

import time

import pytest
from playwright.sync_api import expect

from repairs.live import board_version
from repairs.models import RepairOrder
from repairs.services import repair_order_move
from tests import factories
from tests.browser.conftest import eventually, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PUSH_LIVE = "() => document.body.dataset.live === 'push'"
# Where a card is on the page: the stage id of its column, or null.
STAGE_ON_PAGE = "(id) => { const c = document.getElementById('ro-' + id); return c && c.closest('.column').dataset.stageId; }"


@pytest.fixture
def cars(shop):
    return [
        factories.make_repair_order(
            shop=shop,
            repair_number=f"7000{i}",
            stage_id=1,
            vehicle_make="Subaru",
            customer_last_name=f"Took{i}",
        )
        for i in range(6)
    ]


@pytest.fixture
def second_manager(shop):
    return factories.make_member(shop=shop, role="manager", username="manager2")


def _stage_on(page, ro) -> str | None:
    return page.evaluate(STAGE_ON_PAGE, ro.id)


def _wait_for_stage(page, ro, stage_id: int, *, timeout_ms: float) -> None:
    page.wait_for_function(
        f"(id) => ({STAGE_ON_PAGE})(id) === '{stage_id}'", arg=ro.id, timeout=timeout_ms, polling="raf"
    )


def _move_with_dialog(page, ro, stage_name: str) -> None:
    page.locator(f"#move-{ro.id}").click()
    page.locator("#move-dialog-select").select_option(label=stage_name)
    with page.expect_response(lambda r: r.url.endswith(f"/ros/{ro.id}/move/") and r.request.method == "POST"):
        page.get_by_role("button", name="Move", exact=True).click()


def test_a_move_on_one_board_shows_on_another_within_a_second(
    browser, browser_context_args, asgi_live_server, manager, second_manager, cars, artifacts, page_errors
):
    # Two browsers' worth of sessions: two contexts, two signed-in managers.
    mover_context, watcher_context = (browser.new_context(**browser_context_args) for _ in range(2))
    try:
        mover, watcher = mover_context.new_page(), watcher_context.new_page()
        watcher_errors = []
        watcher.on("pageerror", lambda exc: watcher_errors.append(str(exc)))
        sign_in(mover, asgi_live_server, "manager")
        sign_in(watcher, asgi_live_server, "manager2")
        watcher.wait_for_function(PUSH_LIVE, timeout=10_000)
        car = cars[0]
        assert _stage_on(watcher, car) == "1"

        _move_with_dialog(mover, car, "BODY")
        answered = time.monotonic()
        assert RepairOrder.objects.get(pk=car.pk).stage_id == 7
        _wait_for_stage(watcher, car, 7, timeout_ms=1000)
        assert time.monotonic() - answered < 1.0
        expect(watcher.locator("#count-stage-7")).to_have_text("1")
        expect(watcher.locator("#count-stage-1")).to_have_text("5")
        watcher.locator(f"#ro-{car.id}").scroll_into_view_if_needed()
        watcher.screenshot(path=str(artifacts / "live-board-watcher-after-move.png"))
        assert watcher_errors == []
    finally:
        mover_context.close()
        watcher_context.close()


def test_with_the_stream_refused_the_board_still_refreshes_by_polling(
    page, asgi_live_server, manager, cars, page_errors
):
    refused = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort("connectionrefused")

    page.route("**/board/events/**", refuse)
    sign_in(page, asgi_live_server, "manager")
    eventually(lambda: refused, timeout=10)
    car = cars[1]
    repair_order_move(repair_order_id=car.id, stage_id=9, source="api")
    assert RepairOrder.objects.get(pk=car.pk).stage_id == 9
    # The 3 s poll brings it (never the stream: it was refused every time).
    _wait_for_stage(page, car, 9, timeout_ms=8000)
    assert page.evaluate("() => document.body.dataset.live") is None
    assert refused and all("/board/events/" in url for url in refused)
    assert [e for e in page_errors if "Content Security Policy" in e] == []


def test_after_a_30_second_disconnect_five_moves_show_within_two_seconds_of_reconnecting(
    page, asgi_live_server, manager, cars, artifacts, page_errors
):
    sign_in(page, asgi_live_server, "manager")
    page.wait_for_function(PUSH_LIVE, timeout=10_000)
    # The connection is lost: the server goes away (a restart, a network outage) and the
    # page's stream with it; its polls fail too.
    asgi_live_server.stop()
    page.wait_for_function("() => document.body.dataset.live !== 'push'", timeout=10_000)
    moved = cars[:5]
    lost_at = time.monotonic()
    for stage_id, car in enumerate(moved, start=3):
        repair_order_move(repair_order_id=car.id, stage_id=stage_id, source="api")
        time.sleep(5)
    assert [RepairOrder.objects.get(pk=c.pk).stage_id for c in moved] == [3, 4, 5, 6, 7]
    time.sleep(max(0.0, 30 - (time.monotonic() - lost_at)))
    assert [_stage_on(page, c) for c in moved] == ["1"] * 5  # nothing reached the page meanwhile

    asgi_live_server.restart()
    back = time.monotonic()
    page.wait_for_function(
        "(ids) => ids.every(([id, stage]) => (" + STAGE_ON_PAGE + ")(id) === String(stage))",
        arg=[[c.id, stage] for stage, c in enumerate(moved, start=3)],
        timeout=2000,
        polling="raf",
    )
    assert time.monotonic() - back < 2.0
    for stage_id in range(3, 8):
        expect(page.locator(f"#count-stage-{stage_id}")).to_have_text("1")
    page.wait_for_function(PUSH_LIVE, timeout=10_000)  # and push is back on
    page.screenshot(path=str(artifacts / "live-board-after-reconnect.png"))


def _changes_requests(page) -> list[str]:
    """The page's requests to the catch-up endpoint from now on (a list that fills as they go)."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if "/board/changes/" in request.url else None)
    return seen


def test_a_pushed_delta_is_applied_without_fetching_the_changes(
    page, asgi_live_server, manager, cars, artifacts, page_errors
):
    sign_in(page, asgi_live_server, "manager")
    page.wait_for_function(PUSH_LIVE, timeout=10_000)
    fetched = _changes_requests(page)
    car = cars[2]
    repair_order_move(repair_order_id=car.id, stage_id=7, source="api")
    _wait_for_stage(page, car, 7, timeout_ms=3000)
    expect(page.locator("#count-stage-7")).to_have_text("1")
    expect(page.locator("#count-stage-1")).to_have_text("5")
    # The board is at the new version, and it got there with no request of its own.
    expect(page.locator("#board")).to_have_attribute(
        "data-board-version", str(board_version(shop_id=car.shop_id))
    )
    page.wait_for_timeout(500)
    assert fetched == []
    # ...and it is the same board to work on: the card it drew moves from here.
    assert page.locator(f"#move-{car.id}").is_visible()
    page.locator(f"#ro-{car.id}").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "live-board-pushed-delta.png"))
    assert page_errors == []


def test_a_filtered_board_still_fetches_its_delta(page, asgi_live_server, manager, cars, page_errors):
    sign_in(page, asgi_live_server, "manager")
    page.goto(f"{asgi_live_server.url}/shops/33/board/?q=Took")
    page.wait_for_function(PUSH_LIVE, timeout=10_000)
    fetched = _changes_requests(page)
    car = cars[3]
    repair_order_move(repair_order_id=car.id, stage_id=7, source="api")
    _wait_for_stage(page, car, 7, timeout_ms=3000)
    assert fetched and all("q=Took" in url for url in fetched)
    assert page_errors == []


def test_after_the_clock_bucket_turns_the_change_shows_at_once_and_the_whole_board_comes_later(
    page, asgi_live_server, manager, cars, page_errors
):
    # The whole board after a turn comes at a random moment of the next minute: the last one here.
    page.add_init_script("Math.random = () => 0.999;")
    sign_in(page, asgi_live_server, "manager")
    page.wait_for_function(PUSH_LIVE, timeout=10_000)
    page.evaluate(
        "() => { const b = document.getElementById('board'); b.dataset.boardClock = String(b.dataset.boardClock - 1); }"
    )
    fetched = _changes_requests(page)
    car = cars[4]
    repair_order_move(repair_order_id=car.id, stage_id=7, source="api")
    _wait_for_stage(page, car, 7, timeout_ms=3000)
    expect(page.locator("#board")).to_have_attribute(
        "data-board-version", str(board_version(shop_id=car.shop_id))
    )
    page.wait_for_timeout(1000)
    # Not 200 whole boards at the same moment: this one waits (its clock is still the old one).
    assert fetched == []
    assert page.evaluate("() => document.getElementById('board').dataset.boardClock") != str(
        page.evaluate("() => Math.floor(Date.now() / 1000 / 300)")
    )
    assert page_errors == []


def test_a_stream_that_ends_by_itself_is_reopened_with_its_last_id_and_changes_keep_coming(
    page, asgi_live_server, manager, cars, page_errors, monkeypatch
):
    from repairs import live_views

    # Streams end by themselves (the membership is checked again at each reconnect).
    monkeypatch.setattr(live_views, "STREAM_MAX_SECONDS", 2.0)
    sign_in(page, asgi_live_server, "manager")
    page.wait_for_function(PUSH_LIVE, timeout=10_000)
    with page.expect_request(lambda request: "/board/events/" in request.url, timeout=15_000) as reconnect:
        pass
    # The browser's own reconnect: it says where the board is.
    version = str(page.evaluate("() => document.getElementById('board').dataset.boardVersion"))
    assert reconnect.value.all_headers().get("last-event-id") == version
    page.wait_for_function(PUSH_LIVE, timeout=10_000)
    car = cars[5]
    repair_order_move(repair_order_id=car.id, stage_id=7, source="api")
    _wait_for_stage(page, car, 7, timeout_ms=3000)
    assert page_errors == []
