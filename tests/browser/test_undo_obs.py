"""Undo after a move, end to end: the browser, the board's move view, a real Celery worker and a
local OBS server (tests/obs/support.py). OBS must end on the stage the car was restored to."""

import pytest
from playwright.sync_api import expect

from integrations.models import Notification
from repairs.models import RepairOrder, StageChange
from repairs.services import repair_order_move
from tests.browser.conftest import drag, eventually, sign_in
from tests.obs.conftest import fake_obs, fake_obs_server, obs_worker  # noqa: F401 (fixtures)
from tests.obs.support import make_obs_repair_order, wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_undo_moves_the_car_back_and_obs_ends_on_the_restored_stage(
    page,
    live_server,
    manager,
    shop,
    fake_obs,  # noqa: F811 (the imported fixture)
    obs_worker,  # noqa: F811
    artifacts,
    page_errors,
):
    ro = make_obs_repair_order(shop, repair_number="606471", stage_id=3, vehicle_make="Chevrolet")
    sign_in(page, live_server, "manager")
    drag(page, page.locator(f"#ro-{ro.id}"), page.locator("#cards-stage-5"))
    assert eventually(lambda: RepairOrder.objects.get(pk=ro.pk).stage_id == 5)
    undo = page.get_by_role("button", name="Undo: move RO 606471 back to PRE-WASH")
    expect(undo).to_be_visible()
    page.screenshot(path=str(artifacts / "undo-toast-1366x768.png"))
    undo.click()
    assert eventually(lambda: RepairOrder.objects.get(pk=ro.pk).stage_id == 3)
    expect(page.locator(f"#cards-stage-3 #ro-{ro.id}")).to_be_visible()
    expect(page.locator("#count-stage-5")).to_have_text("0")
    # A move back through the same service: recorded, versioned, by this user, from the board.
    changes = list(StageChange.objects.filter(repair_order=ro).order_by("changed_at", "id"))
    assert [(c.from_stage_id, c.to_stage_id, c.source, c.changed_by_id) for c in changes] == [
        (3, 5, "board", manager.id),
        (5, 3, "board", manager.id),
    ]
    assert RepairOrder.objects.get(pk=ro.pk).version == 3
    # OBS heard both, and the last thing it heard is the restored stage.
    wait_until(
        lambda: (
            not Notification.objects.filter(repair_order=ro, state=Notification.State.PENDING).exists()
            and fake_obs.completed_for(ro.obs_event_id)
        ),
        timeout=30,
        message="OBS deliveries to settle",
    )
    assert fake_obs.completed_for(ro.obs_event_id)[-1].body == [
        {"obs_event_id": ro.obs_event_id, "status": "3"}
    ]
    assert page_errors == []


def test_undo_is_refused_when_someone_moved_the_car_since(page, live_server, manager, shop, page_errors):
    ro = make_obs_repair_order(shop, repair_number="606471", stage_id=3, vehicle_make="Ford")
    sign_in(page, live_server, "manager")
    drag(page, page.locator(f"#ro-{ro.id}"), page.locator("#cards-stage-5"))
    assert eventually(lambda: RepairOrder.objects.get(pk=ro.pk).stage_id == 5)
    undo = page.get_by_role("button", name="Undo: move RO 606471 back to PRE-WASH")
    expect(undo).to_be_visible()
    # Meanwhile a beacon moves the car on: undo carries the version the board had, and is refused.
    repair_order_move(repair_order_id=ro.id, stage_id=7, source="beacon")
    undo.click()
    expect(page.locator("#toasts")).to_contain_text("was just moved to BODY by a beacon reader")
    expect(page.locator(f"#cards-stage-7 #ro-{ro.id}")).to_be_visible()
    assert RepairOrder.objects.get(pk=ro.pk).stage_id == 7
    assert page_errors == []
