"""The smaller defects of issue 10, each as the server draws it (the browser's share is in tests/browser/)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from repairs.models import Membership
from tests import factories
from tests.board.conftest import HTMX, signed_in
from tests.obs.support import make_obs_repair_order


def test_a_move_answer_offers_undo_back_to_the_stage_it_came_from(manager, ro):
    response = signed_in(manager).post(
        f"/shops/33/ros/{ro.id}/move/", {"stage_id": 7, "version": 1}, headers=HTMX
    )
    html = response.content.decode()
    assert "RO 606471 moved to BODY." in html
    assert f'data-undo-ro="{ro.id}" data-undo-stage="1"' in html
    assert 'aria-label="Undo: move RO 606471 back to SCHEDULED IN"' in html


def test_a_move_to_the_stage_it_is_in_offers_no_undo(manager, ro):
    response = signed_in(manager).post(
        f"/shops/33/ros/{ro.id}/move/", {"stage_id": 1, "version": 1}, headers=HTMX
    )
    assert "toast__undo" not in response.content.decode()


def test_card_and_detail_write_hours_and_delivery_the_same_way(viewer, shop):
    delivery = timezone.now() + timedelta(days=3)
    car = factories.make_repair_order(shop=shop, total_estimated_hours="13.50", scheduled_delivery=delivery)
    quarter = factories.make_repair_order(shop=shop, total_estimated_hours="0.25")
    client = signed_in(viewer)
    board = client.get("/shops/33/board/").content.decode()
    detail = client.get(f"/shops/33/ros/{car.id}/").content.decode()
    assert "13.5 h" in board and "13.5 h" in detail and "13.50" not in detail
    local = timezone.localtime(delivery)
    full = f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"
    assert f'title="Scheduled delivery {full}"' in board
    assert f"<dd>{full}</dd>" in detail
    assert "0.25 h" in client.get(f"/shops/33/ros/{quarter.id}/").content.decode()


def test_the_legend_explains_days_badge_and_overdue(viewer, shop):
    html = signed_in(viewer).get("/shops/33/board/").content.decode()
    assert 'id="legend"' in html
    assert "amber from 3" in html and "red from 7" in html and "past the promised delivery" in html


def test_shop_picker_shows_the_shop_and_role_without_a_dangling_id(manager, shop, other_shop):
    Membership.objects.create(user=manager, shop=other_shop, role="viewer")
    response = signed_in(manager).get("/shops/")
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert "Shop #" not in html
    assert "Baggins Body Shop" in html and "Sackville Collision" in html


def test_saving_a_title_and_removing_a_member_say_so(estimator, ro):
    client = signed_in(estimator)
    merry, ham = ro.team.order_by("id")
    saved = client.post(
        f"/shops/33/ros/{ro.id}/team/{merry.id}/",
        {"first_name": "Meriadoc", "last_name": "Brandybuck", "title": "Painter"},
        headers=HTMX,
    ).content.decode()
    assert "Title of Meriadoc Brandybuck saved." in saved
    removed = client.post(f"/shops/33/ros/{ro.id}/team/{ham.id}/remove/", headers=HTMX).content.decode()
    assert "Hamfast Gamgee was removed from the team." in removed
    # Without htmx the same words come as a message on the page the browser returns to.
    client.post(f"/shops/33/ros/{ro.id}/team/{merry.id}/remove/")
    assert (
        "Meriadoc Brandybuck was removed from the team."
        in client.get(f"/shops/33/ros/{ro.id}/").content.decode()
    )


def test_remove_asks_before_it_removes(estimator, ro):
    html = signed_in(estimator).get(f"/shops/33/ros/{ro.id}/").content.decode()
    assert 'hx-confirm="Remove Meriadoc Brandybuck from the team of RO 606471?"' in html


@pytest.mark.urls("tests.obs.urls_debug")
def test_demo_obs_page_uses_the_app_stylesheet_and_leads_back(client, settings, shop):
    settings.DEBUG = True
    make_obs_repair_order(shop)
    html = client.get("/demo/obs/").content.decode()
    # The app's CSP refuses inline styles: the page is styled by board.css.
    assert "<style" not in html and 'style="' not in html
    assert "board/board.css" in html
    assert 'href="/">← Back to the board</a>' in html
