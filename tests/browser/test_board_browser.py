"""The board as a person uses it: Chromium, a real server, a real database."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from repairs.batch import RepairOrderInput, ShopBatch, repair_orders_update
from repairs.demo import demo_load
from repairs.models import RepairOrder, StageChange
from repairs.services import repair_order_move
from tests import factories
from tests.browser.conftest import drag, eventually, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STAGE_NAMES = [
    "SCHEDULED IN",
    "VEHICLE ARRIVE",
    "PRE-WASH",
    "BLUEPRINT",
    "DISASSEMBLY",
    "STAGED FOR PRODUCTION",
    "BODY",
    "MECHANICAL",
    "REFINISH",
    "REASSEMBLY",
    "DETAIL",
    "FINAL INSPECTION",
    "DELIVERY READY",
    "DELIVERY UNCONFIRMED",
    "DELIVERED/CLOSED",
]


def _stage_of(ro) -> int:
    return RepairOrder.objects.get(pk=ro.pk).stage_id


@pytest.fixture
def car(shop):
    ro = factories.make_repair_order(
        shop=shop,
        repair_number="606471",
        stage_id=1,
        vehicle_year=2000,
        vehicle_make="Chevrolet",
        vehicle_model="Silverado",
        vehicle_color="Red",
        customer_first_name="Bilbo",
        customer_last_name="Baggins",
        scheduled_delivery=timezone.now() + timedelta(days=2),
        total_estimated_hours=48,
        insurance_name="State Farm",
    )
    factories.add_to_team(
        ro,
        factories.make_person(
            shop=shop, external_id="4849843", first_name="Meriadoc", last_name="Brandybuck", title="Estimator"
        ),
    )
    return ro


def test_sign_in_shows_the_15_columns_in_order_and_screenshots(
    page, live_server, manager, shop, artifacts, page_errors
):
    demo_load(shops={shop.id: shop.name}, ros_per_shop=60)
    sign_in(page, live_server, "manager")
    expect(page).to_have_url(f"{live_server.url}/shops/33/board/")
    names = page.locator(".column__name")
    expect(names).to_have_count(15)
    assert names.all_inner_texts() == STAGE_NAMES
    counts = [int(t) for t in page.locator(".column__count").all_inner_texts()]
    assert sum(counts) == 60 == page.locator("article.card").count()
    page.screenshot(path=str(artifacts / "board-1366x768.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=str(artifacts / "board-1920x1080.png"))
    page.get_by_role("button", name="TV mode").click()
    expect(page.locator("#board-filter")).to_be_hidden()
    page.get_by_role("button", name="Exit TV mode").click()
    page.locator("article.card .card__number").first.click()
    expect(page.locator("#ro-panel")).to_be_visible()
    page.screenshot(path=str(artifacts / "ro-panel-1920x1080.png"))
    assert page_errors == []


def test_drag_a_card_to_another_column_moves_the_ro(page, live_server, manager, car, page_errors):
    sign_in(page, live_server, "manager")
    card = page.locator(f"#ro-{car.id}")
    drag(page, card, page.locator("#cards-stage-3"))
    assert eventually(lambda: _stage_of(car) == 3), "the RO did not reach PRE-WASH"
    change = StageChange.objects.get(repair_order=car)
    assert (change.from_stage_id, change.to_stage_id, change.source, change.changed_by_id) == (
        1,
        3,
        "board",
        manager.id,
    )
    expect(page.locator(f"#cards-stage-3 #ro-{car.id}")).to_be_visible()
    expect(page.locator("#count-stage-3")).to_have_text("1")
    expect(page.locator("#count-stage-1")).to_have_text("0")
    # The card now carries the new version: a second drag is not stale.
    expect(page.locator(f"#ro-{car.id}")).to_have_attribute("data-version", "2")
    drag(page, page.locator(f"#ro-{car.id}"), page.locator("#cards-stage-2"))
    assert eventually(lambda: _stage_of(car) == 2)
    assert page_errors == []


def test_a_stale_move_snaps_back_with_a_message(
    page, live_server, manager, estimator, car, page_errors, artifacts
):
    sign_in(page, live_server, "manager")
    # Hold the board's polls back, so the page still has the old version when
    # the card is dragged (as if the other move happened a second ago).
    page.route(
        "**/shops/33/board/",
        lambda route: (
            route.fulfill(status=304)
            if route.request.headers.get("hx-target") == "board"
            else route.continue_()
        ),
    )
    repair_order_move(repair_order_id=car.id, stage_id=9, source="board", user=estimator)
    drag(page, page.locator(f"#ro-{car.id}"), page.locator("#cards-stage-3"))
    expect(page.locator(f"#cards-stage-9 #ro-{car.id}")).to_be_visible()
    expect(page.locator(f"#cards-stage-3 #ro-{car.id}")).to_have_count(0)
    expect(page.locator(".toast")).to_contain_text("RO 606471 was just moved to REFINISH by estimator.")
    expect(page.locator(f"#ro-{car.id}")).to_be_in_viewport()
    page.screenshot(path=str(artifacts / "stale-move-1366x768.png"))
    car.refresh_from_db()
    assert (car.stage_id, car.version) == (9, 2)
    assert StageChange.objects.filter(repair_order=car).count() == 1
    assert page_errors == []


def test_a_viewer_cannot_move_a_card(page, live_server, viewer, car, page_errors):
    sign_in(page, live_server, "viewer")
    card = page.locator(f"#ro-{car.id}")
    expect(card).to_be_visible()
    expect(page.locator(".card__handle")).to_have_count(0)
    expect(page.locator(".card__move")).to_have_count(0)
    drag(page, card, page.locator("#cards-stage-3"))
    page.wait_for_timeout(1000)
    expect(page.locator(f"#cards-stage-1 #ro-{car.id}")).to_be_visible()
    # Even a hand-made request with the page's CSRF token is refused.
    status = page.evaluate(
        """async (url) => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
            const body = new URLSearchParams({stage_id: '3', version: '1'});
            const response = await fetch(url, {method: 'POST', body, headers: {'X-CSRFToken': token}});
            return response.status;
        }""",
        f"/shops/33/ros/{car.id}/move/",
    )
    assert status == 403
    assert _stage_of(car) == 1
    assert page_errors == []


def test_the_keyboard_move_control_moves_the_card(page, live_server, manager, car, page_errors, artifacts):
    sign_in(page, live_server, "manager")
    page.get_by_role("button", name="Move RO 606471 to another stage").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Move RO 606471")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Move to stage")).to_be_focused()
    expect(dialog).to_contain_text("Now in SCHEDULED IN")
    page.keyboard.type("BODY")
    page.screenshot(path=str(artifacts / "move-dialog-1366x768.png"))
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Move")).to_be_focused()
    page.keyboard.press("Enter")
    assert eventually(lambda: _stage_of(car) == 7), "the RO did not reach BODY"
    expect(page.locator(f"#cards-stage-7 #ro-{car.id}")).to_be_visible()
    expect(page.locator("#count-stage-7")).to_have_text("1")
    expect(dialog).to_be_hidden()
    # Focus stays on the moved card, so a keyboard user is not lost.
    expect(page.locator(f"#ro-{car.id}")).to_be_focused()
    # Escape cancels without moving.
    page.get_by_role("button", name="Move RO 606471 to another stage").press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(300)
    assert _stage_of(car) == 7
    assert page_errors == []


def test_a_move_made_elsewhere_shows_without_reload(page, live_server, manager, estimator, car, page_errors):
    sign_in(page, live_server, "manager")
    page.evaluate("window.__sameDocument = true")
    repair_order_move(repair_order_id=car.id, stage_id=5, source="beacon")
    expect(page.locator(f"#cards-stage-5 #ro-{car.id}")).to_be_visible(timeout=8000)
    expect(page.locator("#count-stage-5")).to_have_text("1")
    assert page.evaluate("window.__sameDocument") is True
    assert page_errors == []


def test_a_refresh_never_lands_mid_drag(page, live_server, manager, car, shop, page_errors):
    other = factories.make_repair_order(shop=shop, repair_number="OTHER-1", stage_id=2)
    sign_in(page, live_server, "manager")
    start = page.locator(f"#ro-{car.id} .card__vehicle").bounding_box()
    page.mouse.move(start["x"] + 40, start["y"] + 5)
    page.mouse.down()
    page.mouse.move(start["x"] + 80, start["y"] + 40, steps=10)
    expect(page.locator("body.is-dragging")).to_have_count(1)
    # Meanwhile someone else moves another car: the board must not redraw under the hand.
    repair_order_move(repair_order_id=other.id, stage_id=6, source="beacon")
    page.wait_for_timeout(4000)
    expect(page.locator(f"#cards-stage-2 #ro-{other.id}")).to_have_count(1)
    target = page.locator("#cards-stage-4").bounding_box()
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + 60, steps=25)
    page.mouse.up()
    assert eventually(lambda: _stage_of(car) == 4), "the drag was lost"
    # Once the hand is off, the other move shows up.
    expect(page.locator(f"#cards-stage-6 #ro-{other.id}")).to_be_visible(timeout=8000)
    expect(page.locator(f"#cards-stage-4 #ro-{car.id}")).to_be_visible()
    assert page_errors == []


def test_dragging_to_the_edge_scrolls_to_an_off_screen_column(page, live_server, manager, car, page_errors):
    sign_in(page, live_server, "manager")
    scroller = page.locator("#board-scroller")
    target = page.locator("#cards-stage-12")
    assert not _in_view(page, target), "stage 12 should start off-screen at 1366 px"
    start = page.locator(f"#ro-{car.id} .card__vehicle").bounding_box()
    page.mouse.move(start["x"] + 40, start["y"] + 5)
    page.mouse.down()
    page.mouse.move(start["x"] + 60, start["y"] + 20, steps=5)
    edge_x, mid_y = 1366 - 8, 400
    page.mouse.move(edge_x, mid_y, steps=25)
    for _ in range(100):  # hold at the edge, as a hand would, until the column comes into view
        if _in_view(page, target):
            break
        page.mouse.move(edge_x - 1, mid_y + 1)
        page.mouse.move(edge_x, mid_y)
        page.wait_for_timeout(50)
    assert scroller.evaluate("el => el.scrollLeft") > 0
    assert _in_view(page, target)
    for _ in range(3):  # the board may still be gliding: aim again at where the column now is
        box = target.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 60, steps=10)
        page.wait_for_timeout(150)
    page.mouse.up()
    assert eventually(lambda: _stage_of(car) == 12), (
        f"the RO is in stage {_stage_of(car)}, not FINAL INSPECTION; "
        f"scrollLeft={scroller.evaluate('el => el.scrollLeft')}"
    )
    assert page_errors == []


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_a_collapsed_stage_stays_collapsed_after_reload(page, live_server, viewer, car, page_errors):
    sign_in(page, live_server, "viewer")
    column = page.locator('.column[data-stage-id="2"]')
    column.get_by_role("button", name="Collapse VEHICLE ARRIVE").click()
    expect(column).to_have_class("column is-collapsed")
    expect(page.locator("#cards-stage-2")).to_be_hidden()
    page.reload()
    column = page.locator('.column[data-stage-id="2"]')
    expect(column).to_have_class("column is-collapsed")
    column.get_by_role("button", name="Expand VEHICLE ARRIVE").click()
    expect(column).to_have_class("column")
    page.reload()
    expect(page.locator("#cards-stage-2")).to_be_visible()
    assert page_errors == []


def test_tv_mode_hides_the_chrome_but_keeps_the_counts(page, live_server, viewer, car, page_errors):
    sign_in(page, live_server, "viewer")
    settings_link = page.locator(".topbar__nav").get_by_role("link", name="Shops")
    expect(settings_link).to_be_visible()
    page.get_by_role("button", name="TV mode").click()
    expect(settings_link).to_be_hidden()
    expect(page.locator("#board-filter")).to_be_hidden()
    expect(page.locator("#board-stats")).to_be_visible()
    expect(page.locator("#clock")).to_have_text(re.compile(r"\d\d.\d\d"))
    expect(page.locator(f"#ro-{car.id}")).to_be_visible()
    # The way out is in plain sight, not only on hover.
    exit_button = page.get_by_role("button", name="Exit TV mode")
    assert exit_button.evaluate("el => getComputedStyle(el).opacity") == "1"
    expect(page).to_have_url(re.compile(r"\?tv=1$"))
    exit_button.click()
    expect(settings_link).to_be_visible()
    page.goto(f"{live_server.url}/shops/33/board/?tv=1")
    expect(settings_link).to_be_hidden()
    # Escape leaves TV mode too.
    page.keyboard.press("Escape")
    expect(settings_link).to_be_visible()
    expect(page.locator("body.tv")).to_have_count(0)
    assert page_errors == []


def test_an_estimator_edits_the_team_in_the_ro_panel(page, live_server, estimator, manager, car, page_errors):
    repair_order_move(repair_order_id=car.id, stage_id=4, source="board", user=manager)
    sign_in(page, live_server, "estimator")
    page.locator(f"#ro-{car.id} .card__number").click()
    panel = page.locator("#ro-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".history")).to_contain_text("BLUEPRINT")
    expect(panel.locator(".history")).to_contain_text("manager")
    panel.get_by_label("Employee id").fill("777")
    panel.get_by_label("First name").fill("Ponto")
    panel.get_by_label("Last name").fill("Proudfoot")
    panel.get_by_label("Title", exact=True).fill("Mechanic")
    panel.get_by_role("button", name="Add to team").click()
    expect(panel.locator(".team-list")).to_contain_text("Ponto Proudfoot")
    assert eventually(lambda: car.team.filter(external_id="777").exists())
    # Remove asks first: "no" keeps the person, "yes" removes and says so.
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    panel.get_by_role("button", name="Remove Meriadoc Brandybuck from the team").click()
    page.wait_for_timeout(500)
    assert questions == ["Remove Meriadoc Brandybuck from the team of RO 606471?"]
    assert car.team.filter(external_id="4849843").exists()
    page.once("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name="Remove Meriadoc Brandybuck from the team").click()
    expect(panel.locator(".team-list")).not_to_contain_text("Meriadoc")
    expect(panel.get_by_role("status")).to_have_text("Meriadoc Brandybuck was removed from the team.")
    assert eventually(lambda: not car.team.filter(external_id="4849843").exists())
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    # The board picks the new team up by itself.
    expect(page.locator(f"#ro-{car.id} .avatar")).to_have_text(["PP"], timeout=8000)
    assert page_errors == []


def test_a_change_elsewhere_arrives_as_a_delta_in_place_on_a_filtered_capped_board(
    page, live_server, viewer, shop, page_errors, artifacts
):
    """The catch-up swaps only what changed: the board element and the other cards stay
    the same DOM nodes; a car the filter no longer matches leaves; a column drawing its
    first 100 cars keeps 100 and says how many more."""
    now = timezone.now()
    cars = [
        factories.make_repair_order(
            shop=shop,
            repair_number=f"R{i:03d}",
            stage_id=3,
            rental_car=True,
            scheduled_delivery=now + timedelta(days=1, minutes=i),
        )
        for i in range(103)
    ]
    sign_in(page, live_server, "viewer")
    page.goto(f"{live_server.url}/shops/33/board/?rental=1")
    column = page.locator("#cards-stage-3")
    expect(column.locator("article.card")).to_have_count(100)
    expect(page.locator('.column[data-stage-id="3"] .column__more')).to_have_text(
        "+ 3 more — search to find one"
    )
    page.evaluate(
        "(id) => { window.__board = document.getElementById('board');"
        " window.__kept = document.getElementById('ro-' + id); }",
        cars[50].id,
    )
    # The first car is no longer a rental: it leaves this board; the 101st is not drawn
    # until the board reloads whole, so the column draws 99 and says 3 more.
    repair_orders_patch(cars[0], rental_car=False)
    expect(page.locator(f"#ro-{cars[0].id}")).to_have_count(0, timeout=8000)
    expect(page.locator("#count-stage-3")).to_have_text("102")
    expect(page.locator('.column[data-stage-id="3"] .column__more')).to_have_text(
        "+ 3 more — search to find one"
    )
    expect(page.locator("#board-stats")).to_contain_text("102 of 103 cars")
    # A car moved in that sorts before the drawn ones is drawn, in its place; the last
    # drawn one gives way (101 would exceed the column's cap).
    early = factories.make_repair_order(
        shop=shop, repair_number="EARLY", stage_id=2, rental_car=True, scheduled_delivery=now
    )
    repair_order_move(repair_order_id=early.id, stage_id=3, source="beacon")
    expect(column.locator("article.card").first).to_have_id(f"ro-{early.id}", timeout=8000)
    expect(column.locator("article.card")).to_have_count(100)
    expect(page.locator("#count-stage-3")).to_have_text("103")
    expect(page.locator('.column[data-stage-id="3"] .column__more')).to_have_text(
        "+ 3 more — search to find one"
    )
    assert page.evaluate(
        "() => window.__board === document.getElementById('board') && window.__kept.isConnected"
    ), "the board was swapped whole"
    page.screenshot(path=str(artifacts / "delta-filtered-capped.png"))
    assert page_errors == []


def repair_orders_patch(ro, **fields):
    repair_orders_update(shop_entries=[ShopBatch(ro.shop_id, [RepairOrderInput(ro.repair_number, fields)])])
