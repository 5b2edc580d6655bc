"""What the board shows: 15 columns in position order, one card per Active RO, every card field."""

import re
from datetime import timedelta

import pytest
from django.db.models import Value
from django.utils import timezone

from repairs import board_hooks
from repairs.models import Stage
from tests import factories
from tests.board.conftest import signed_in

STAGE_ORDER = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 14]


def _column_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<section class="column" data-stage-id="(\d+)"', html)]


def _column_html(html: str, stage_id: int) -> str:
    return html.split(f'id="cards-stage-{stage_id}"')[1].split("</section>")[0]


def test_board_shows_the_15_columns_in_position_order(viewer, shop):
    html = signed_in(viewer).get("/shops/33/board/").content.decode()
    assert _column_ids(html) == STAGE_ORDER
    names = re.findall(r'class="column__name"[^>]*>([^<]+)<', html)
    assert names == list(Stage.objects.order_by("position").values_list("name", flat=True))
    assert names[-2:] == ["DELIVERY UNCONFIRMED", "DELIVERED/CLOSED"]


def test_one_card_per_active_ro_whatever_the_case_of_status(viewer, shop, other_shop):
    shown = [
        factories.make_repair_order(shop=shop, repair_number=n, status=s, stage_id=st)
        for n, s, st in [("A1", "Active", 7), ("A2", "ACTIVE", 7), ("A3", "active", 15)]
    ]
    hidden = [
        factories.make_repair_order(shop=shop, repair_number="C1", status="Closed", stage_id=7),
        factories.make_repair_order(shop=shop, repair_number="C2", status="Inactive", stage_id=7),
        factories.make_repair_order(shop=other_shop, repair_number="O1", stage_id=7),
    ]
    html = signed_in(viewer).get("/shops/33/board/").content.decode()
    for ro in shown:
        assert html.count(f'id="ro-{ro.id}"') == 1
    for ro in hidden:
        assert f'id="ro-{ro.id}"' not in html
    assert 'id="count-stage-7" class="column__count">2<' in html
    assert 'id="count-stage-15" class="column__count">1<' in html
    assert 'id="count-stage-1" class="column__count">0<' in html
    assert f'id="ro-{shown[2].id}"' in _column_html(html, 15)


def test_card_shows_every_field_of_spec_section_7(viewer, ro):
    ro.scheduled_delivery = timezone.now() - timedelta(days=1)
    ro.stage_entered_at = timezone.now() - timedelta(days=4, hours=1)
    ro.save()
    html = signed_in(viewer).get("/shops/33/board/").content.decode()
    card = html.split(f'id="ro-{ro.id}"')[1].split("</article>")[0]
    assert "606471" in card
    assert "2000 Chevrolet Silverado" in card and "Red" in card
    assert "Bilbo Baggins" in card
    assert "fact--overdue" in card and "Overdue" in card
    assert "Rental" in card
    assert "48.5 h" in card
    assert "State Farm" in card
    assert re.findall(r'class="avatar"[^>]*>(\w+)<', card) == ["MB", "HG"]
    assert "4d" in card
    assert "days--amber" in card  # 4 days: past the default amber (3), before red (7)


@pytest.mark.parametrize(
    ("days", "level"), [(0, "ok"), (1, "ok"), (2, "amber"), (4, "amber"), (5, "red"), (30, "red")]
)
def test_days_in_stage_badge_follows_the_shops_thresholds(viewer, shop, days, level):
    shop.days_in_stage_amber, shop.days_in_stage_red = 2, 5
    shop.save()
    ro = factories.make_repair_order(
        shop=shop, stage_entered_at=timezone.now() - timedelta(days=days, minutes=5)
    )
    html = signed_in(viewer).get("/shops/33/board/").content.decode()
    card = html.split(f'id="ro-{ro.id}"')[1].split("</article>")[0]
    assert f'class="days days--{level}"' in card
    assert f">{days}d<" in card


def test_a_delivered_car_is_not_overdue(viewer, shop):
    ro = factories.make_repair_order(
        shop=shop, stage_id=14, scheduled_delivery=timezone.now() - timedelta(days=3)
    )
    html = signed_in(viewer).get("/shops/33/board/").content.decode()
    card = html.split(f'id="ro-{ro.id}"')[1].split("</article>")[0]
    assert "Overdue" not in card


def test_card_shows_an_obs_problem_an_integration_annotates(viewer, ro):
    def annotate(qs):
        return qs.annotate(obs_problem=Value("OBS answered 400: unknown status"))

    board_hooks.register_card_annotation(annotate)
    try:
        html = signed_in(viewer).get("/shops/33/board/").content.decode()
    finally:
        board_hooks._card_annotations.remove(annotate)
    card = html.split(f'id="ro-{ro.id}"')[1].split("</article>")[0]
    assert 'class="card__obs"' in card
    assert "OBS answered 400: unknown status" in card


def test_cards_without_an_obs_problem_show_no_badge(viewer, ro):
    html = signed_in(viewer).get("/shops/33/board/").content.decode()
    assert 'class="card__obs"' not in html


@pytest.mark.parametrize(("role", "movable"), [("manager", True), ("estimator", False), ("viewer", False)])
def test_only_managers_get_drag_handles_and_move_controls(actors, ro, role, movable):
    html = signed_in(actors[role]).get("/shops/33/board/").content.decode()
    assert ("data-movable" in html) == movable
    assert ("card__handle" in html) == movable
    assert ('class="card__move"' in html) == movable
    assert ('id="move-dialog"' in html) == movable
    assert ("board--movable" in html) == movable
    assert ("/move/" in html) == movable


def test_card_carries_its_move_url_stage_and_version_and_the_dialog_lists_every_stage(manager, ro):
    html = signed_in(manager).get("/shops/33/board/").content.decode()
    card = html.split(f'id="ro-{ro.id}"')[1].split(">")[0]
    assert 'data-stage-id="1"' in card and 'data-version="1"' in card
    assert f'data-move-url="/shops/33/ros/{ro.id}/move/"' in card
    dialog = html.split('id="move-dialog"')[1].split("</dialog>")[0]
    assert [int(v) for v in re.findall(r'<option value="(\d+)">', dialog)] == STAGE_ORDER


def test_detail_page_offers_managers_a_plain_move_form(manager, viewer, ro):
    html = signed_in(manager).get(f"/shops/33/ros/{ro.id}/").content.decode()
    form = html.split('class="detail__move"')[1].split("</form>")[0]
    assert f'action="/shops/33/ros/{ro.id}/move/"' in form and "csrfmiddlewaretoken" in form
    assert '<input type="hidden" name="version" value="1">' in form
    assert 'class="detail__move"' not in signed_in(viewer).get(f"/shops/33/ros/{ro.id}/").content.decode()


def test_page_has_no_inline_script_and_no_cdn(manager, ro):
    html = signed_in(manager).get("/shops/33/board/").content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert scripts, "the page loads its scripts"
    for attrs, body in scripts:
        assert 'src="/static/' in attrs
        assert body.strip() == ""
    assert "https://" not in html and "http://" not in html
    assert re.search(r" on[a-z]+=", html) is None
