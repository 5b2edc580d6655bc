"""The board refreshes itself cheaply: a poll answers 304 until something it shows changes."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from repairs import services
from repairs.models import Person, RepairOrder
from tests.board.conftest import POLL, signed_in


def _etag_of_page(client) -> str:
    html = client.get("/shops/33/board/").content.decode()
    return re.search(r'data-etag="([^"]+)"', html).group(1).replace("&quot;", '"')


def _poll(client, etag):
    return client.get("/shops/33/board/", headers={**POLL, "If-None-Match": etag})


def test_poll_answers_304_while_nothing_changed_in_a_few_queries(viewer, ro):
    client = signed_in(viewer)
    etag = _etag_of_page(client)
    with CaptureQueriesContext(connection) as queries:
        response = _poll(client, etag)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    # session, user, membership, change token: nothing about the ROs themselves.
    assert len(queries) <= 4, [q["sql"] for q in queries]


def test_poll_matches_the_weak_etag_gzip_makes(viewer, ro):
    client = signed_in(viewer)
    response = client.get("/shops/33/board/", headers={**POLL, "Accept-Encoding": "gzip"})
    assert response["Content-Encoding"] == "gzip"
    assert response["ETag"].startswith('W/"')
    assert _poll(client, response["ETag"]).status_code == 304
    assert _poll(client, response["ETag"].removeprefix("W/")).status_code == 304


def test_poll_without_etag_gets_the_board_fragment(viewer, ro):
    response = signed_in(viewer).get("/shops/33/board/", headers=POLL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="board"')
    assert "<html" not in html and 'class="topbar"' not in html
    assert '<span class="topbar__stats" id="board-stats" hx-swap-oob="true">' in html
    assert "<strong>1</strong> car<" in html
    assert response["ETag"]
    assert "HX-Request" in response["Vary"]
    assert "no-cache" in response["Cache-Control"] and "private" in response["Cache-Control"]


def _move(ro, manager):
    services.repair_order_move(repair_order_id=ro.id, stage_id=7, source="board", user=manager)


def _team_add(ro, manager):
    services.repair_team_member_add(
        repair_order_id=ro.id, external_id="NEW1", person_fields={"first_name": "Daisy"}
    )


def _person_renamed_by_the_api(ro, manager):
    # The batch API renames a person of another RO's request: this RO's row is not touched.
    Person.objects.filter(external_id="4849843").update(first_name="Merry", updated_at=timezone.now())


def _person_deleted_in_the_admin(ro, manager):
    # Not the most recently updated person: only the count can tell.
    Person.objects.filter(external_id="4849843").delete()


def _status_closed(ro, manager):
    RepairOrder.objects.filter(pk=ro.pk).update(status="Closed", updated_at=timezone.now())


def _thresholds(ro, manager):
    services.shop_settings_update(shop_id=33, days_in_stage_amber=1, days_in_stage_red=2)


def _new_ro(ro, manager):
    from tests.factories import make_repair_order

    make_repair_order(shop=ro.shop, repair_number="NEW-RO")


@pytest.mark.parametrize(
    "change",
    [
        _move,
        _team_add,
        _person_renamed_by_the_api,
        _person_deleted_in_the_admin,
        _status_closed,
        _thresholds,
        _new_ro,
    ],
)
def test_poll_after_a_change_gets_new_content_and_a_new_etag(viewer, manager, ro, change):
    client = signed_in(viewer)
    etag = _etag_of_page(client)
    before = client.get("/shops/33/board/", headers=POLL).content
    change(ro, manager)
    response = _poll(client, etag)
    assert response.status_code == 200
    assert response["ETag"] != etag
    assert response.content != before
    assert _poll(client, response["ETag"]).status_code == 304


def test_poll_after_a_move_shows_the_card_in_its_new_column(viewer, manager, ro):
    client = signed_in(viewer)
    etag = _etag_of_page(client)
    _move(ro, manager)
    html = _poll(client, etag).content.decode()
    column_7 = html.split('id="cards-stage-7"')[1].split("</section>")[0]
    assert f'id="ro-{ro.id}"' in column_7
    assert 'id="count-stage-7" class="column__count">1<' in html


def test_a_deleted_ro_changes_the_etag(viewer, shop, ro):
    from tests.factories import make_repair_order

    old = make_repair_order(shop=shop, repair_number="OLD")
    client = signed_in(viewer)
    etag = _etag_of_page(client)
    old.delete()
    assert _poll(client, etag).status_code == 200


def test_etag_differs_by_role_because_the_markup_does(viewer, manager, ro):
    assert _etag_of_page(signed_in(viewer)) != _etag_of_page(signed_in(manager))


def test_an_idle_board_is_redrawn_when_the_clock_moves_on(viewer, ro, monkeypatch):
    client = signed_in(viewer)
    etag = _etag_of_page(client)
    later = timezone.now() + timedelta(minutes=6)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert _poll(client, etag).status_code == 200


def test_another_shops_changes_do_not_wake_this_board(viewer, ro, other_ro, outsider):
    client = signed_in(viewer)
    etag = _etag_of_page(client)
    services.repair_order_move(repair_order_id=other_ro.id, stage_id=5, source="board", user=outsider)
    assert _poll(client, etag).status_code == 304


def test_boards_of_one_shop_share_one_rendering_per_change(viewer, estimator, manager, ro):
    first, second = signed_in(viewer), signed_in(estimator)
    etag_first, etag_second = _etag_of_page(first), _etag_of_page(second)
    _move(ro, manager)
    with CaptureQueriesContext(connection) as rendering:
        html = _poll(first, etag_first).content
    with CaptureQueriesContext(connection) as shared:
        response = _poll(second, etag_second)
    assert response.status_code == 200
    assert len(shared) < len(rendering)
    assert not any('repairs_repairorder"."repair_number' in q["sql"] for q in shared)
    # A viewer's and an estimator's boards are the same markup: neither can move.
    assert response.content == html
