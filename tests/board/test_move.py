"""Moving a card: one request carrying the RO's version, through repair_order_move."""

import re

import pytest

from repairs import services
from repairs.models import RepairOrder, StageChange
from repairs.services import repair_order_move
from tests import factories
from tests.board.conftest import HTMX, signed_in


def test_move_records_the_change_and_answers_the_card_with_both_counts(manager, ro):
    response = signed_in(manager).post(
        f"/shops/33/ros/{ro.id}/move/", {"stage_id": 7, "version": 1}, headers=HTMX
    )
    assert response.status_code == 200
    ro.refresh_from_db()
    assert (ro.stage_id, ro.version) == (7, 2)
    change = StageChange.objects.get(repair_order=ro)
    assert (change.from_stage_id, change.to_stage_id, change.changed_by, change.source) == (
        1,
        7,
        manager,
        "board",
    )
    html = response.content.decode()
    # The card carries the new version, so the next drag is not stale.
    assert re.search(rf'id="ro-{ro.id}"[^>]*data-version="2"', html)
    assert re.search(r'<span id="count-stage-1" class="column__count" hx-swap-oob="true">0</span>', html)
    assert re.search(r'<span id="count-stage-7" class="column__count" hx-swap-oob="true">1</span>', html)
    assert "moved to BODY" in html


def test_stale_version_answers_409_with_the_one_card_where_it_really_is_and_changes_nothing(
    manager, ro, estimator
):
    factories.make_repair_order(shop=ro.shop, repair_number="OTHER-1")
    repair_order_move(repair_order_id=ro.id, stage_id=9, source="board", user=estimator)
    response = signed_in(manager).post(
        f"/shops/33/ros/{ro.id}/move/", {"stage_id": 7, "version": 1}, headers=HTMX
    )
    assert response.status_code == 409
    assert "HX-Retarget" not in response  # the answer replaces the dragged card, not the board
    ro.refresh_from_db()
    assert (ro.stage_id, ro.version) == (9, 2)
    assert StageChange.objects.filter(repair_order=ro).count() == 1
    html = response.content.decode()
    # One card, in the column the RO is really in (REFINISH, id 9), not the board.
    assert html.count("<article ") == 1
    assert re.search(rf'id="ro-{ro.id}"[^>]*data-stage-id="9" data-version="2"', html)
    assert 'id="board"' not in html and "OTHER-1" not in html
    # The counts of its true column and of the one it was dropped in.
    assert re.findall(r'id="count-stage-(\d+)" class="column__count" hx-swap-oob="true">(\d+)<', html) == [
        ("7", "0"),
        ("9", "1"),
    ]
    assert "RO 606471 was just moved to REFINISH by estimator." in html


def test_stale_version_after_a_team_change_says_the_ro_changed(manager, ro):
    services.repair_team_member_remove(repair_order_id=ro.id, person_id=ro.team.first().id)
    response = signed_in(manager).post(
        f"/shops/33/ros/{ro.id}/move/", {"stage_id": 7, "version": 1}, headers=HTMX
    )
    assert response.status_code == 409
    assert "RO 606471 changed while you were moving it; it is in SCHEDULED IN." in response.content.decode()
    assert RepairOrder.objects.get(pk=ro.pk).stage_id == 1


def test_moving_to_the_stage_it_is_in_changes_nothing(manager, ro):
    response = signed_in(manager).post(
        f"/shops/33/ros/{ro.id}/move/", {"stage_id": 1, "version": 1}, headers=HTMX
    )
    assert response.status_code == 200
    ro.refresh_from_db()
    assert ro.version == 1
    assert not StageChange.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"version": 1},
        {"stage_id": 7},
        {"stage_id": 16, "version": 1},
        {"stage_id": 0, "version": 1},
        {"stage_id": "body", "version": 1},
        {"stage_id": 7, "version": "x"},
    ],
)
def test_invalid_move_answers_400_and_changes_nothing(manager, ro, data):
    response = signed_in(manager).post(f"/shops/33/ros/{ro.id}/move/", data, headers=HTMX)
    assert response.status_code == 400
    ro.refresh_from_db()
    assert (ro.stage_id, ro.version) == (1, 1)


def test_move_without_htmx_returns_to_the_board_at_the_car_with_a_message(manager, ro):
    client = signed_in(manager)
    response = client.post(f"/shops/33/ros/{ro.id}/move/", {"stage_id": 4, "version": 1})
    assert response.status_code == 302
    # The fragment points board.js at the car, which scrolls it into view.
    assert response["Location"] == f"/shops/33/board/#ro-{ro.id}"
    assert RepairOrder.objects.get(pk=ro.pk).stage_id == 4
    assert "RO 606471 moved to BLUEPRINT." in client.get("/shops/33/board/").content.decode()


def test_stale_move_without_htmx_redirects_with_a_message(manager, ro):
    repair_order_move(repair_order_id=ro.id, stage_id=9, source="beacon")
    client = signed_in(manager)
    response = client.post(f"/shops/33/ros/{ro.id}/move/", {"stage_id": 4, "version": 1}, follow=True)
    assert response.status_code == 200
    assert "RO 606471 was just moved to REFINISH by a beacon reader." in response.content.decode()
    assert RepairOrder.objects.get(pk=ro.pk).stage_id == 9
