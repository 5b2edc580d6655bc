"""The board's catch-up (GET /shops/<id>/board/changes/?since=): after a change a board
downloads the cards that changed and the counts that moved, not the whole board."""

import gzip
import re
from urllib.parse import parse_qsl

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from repairs import services
from repairs.batch import RepairOrderInput, ShopBatch, repair_orders_update
from repairs.deltas import DELTA_CARD_LIMIT, DELTA_VERSION_LIMIT
from repairs.live import board_version
from repairs.models import BoardVersion, RepairOrder
from repairs.stages import STAGES
from tests import factories
from tests.board.conftest import HTMX, signed_in
from tests.board.test_query_budget import load_shop

CHANGES = "/shops/33/board/changes/"
STAGE_IDS = [stage_id for _, stage_id, _ in STAGES]


def _page(client, query: str = "") -> str:
    return client.get(f"/shops/33/board/{query}").content.decode()


def _board_attrs(html: str) -> dict[str, str]:
    tag = re.search(r'<div id="board"[^>]*>', html).group(0)
    return dict(re.findall(r'data-(board-version|board-clock|changes-url)="([^"]*)"', tag))


def _seen(html: str) -> str:
    """The counts the board shows, as board.js sends them."""
    return ".".join(re.findall(r'class="column__count">(\d+)<', html))


def _catch_up(client, html: str, *, gzip: bool = False, **params):
    """The request board.js makes for the board `html` shows (`params` override)."""
    attrs = _board_attrs(html)
    path, _, query = attrs["changes-url"].replace("&amp;", "&").partition("?")
    params = {
        **dict(parse_qsl(query)),  # the board's filter
        "since": attrs["board-version"],
        "clock": attrs["board-clock"],
        "seen": _seen(html),
        **params,
    }
    headers = {**HTMX, **({"Accept-Encoding": "gzip"} if gzip else {})}
    return client.get(path, params, headers=headers)


def _cards(html: str) -> list[str]:
    return re.findall(r'<article class="card[^"]*" id="ro-(\d+)"', html)


def _counts(html: str) -> dict[int, int]:
    found = re.findall(r'id="count-stage-(\d+)" class="column__count" hx-swap-oob="true">(\d+)<', html)
    return {int(stage): int(count) for stage, count in found}


def _move(ro, stage_id):
    return services.repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")


def _patch(ro, **fields):
    """A batch PATCH of one RO, as the API sends it."""
    repair_orders_update(shop_entries=[ShopBatch(ro.shop_id, [RepairOrderInput(ro.repair_number, fields)])])


def test_the_board_carries_its_version_clock_and_catch_up_url(viewer, ro):
    _move(ro, 4)
    attrs = _board_attrs(_page(signed_in(viewer)))
    assert attrs["board-version"] == "1"
    assert attrs["changes-url"] == CHANGES
    assert attrs["board-clock"].isdigit()


def test_nothing_changed_answers_204_with_the_version(viewer, ro):
    client = signed_in(viewer)
    response = _catch_up(client, _page(client))
    assert response.status_code == 204
    assert response["Board-Version"] == "0"
    assert response.content == b""


def test_after_one_move_the_delta_holds_that_card_and_the_two_counts(viewer, ro):
    factories.make_repair_order(shop=ro.shop, repair_number="STAYS", stage_id=1)
    factories.make_repair_order(shop=ro.shop, repair_number="ELSEWHERE", stage_id=12)
    client = signed_in(viewer)
    html = _page(client)
    _move(ro, 7)
    response = _catch_up(client, html)
    assert response.status_code == 200
    assert (response["Board-Version"], response["Board-Delta"]) == ("1", "cards")
    delta = response.content.decode()
    assert 'id="board"' not in delta
    assert _cards(delta) == [str(ro.id)]
    assert re.search(rf'id="ro-{ro.id}"[^>]*data-stage-id="7" data-version="2"', delta)
    assert "STAYS" not in delta and "ELSEWHERE" not in delta
    assert _counts(delta) == {1: 1, 7: 1}
    assert 'data-board-version="1"' in delta
    assert '<span class="topbar__stats" id="board-stats" hx-swap-oob="true">' in delta
    assert "<strong>3</strong> cars" in delta


def test_without_the_counts_it_shows_the_delta_sends_all_fifteen(viewer, ro):
    client = signed_in(viewer)
    html = _page(client)
    _move(ro, 7)
    delta = _catch_up(client, html, seen="").content.decode()
    assert sorted(_counts(delta)) == sorted(STAGE_IDS)


def test_a_closed_car_is_removed_and_its_column_recounted(viewer, ro):
    client = signed_in(viewer)
    html = _page(client)
    _patch(ro, status="Closed")
    delta = _catch_up(client, html).content.decode()
    assert _cards(delta) == []
    assert f'<i data-removed="{ro.id}"></i>' in delta
    assert _counts(delta) == {1: 0}


def test_a_team_change_redraws_the_card_with_its_new_team(viewer, ro):
    client = signed_in(viewer)
    html = _page(client)
    services.repair_team_member_remove(repair_order_id=ro.id, person_id=ro.team.get(external_id="4849843").id)
    delta = _catch_up(client, html).content.decode()
    assert _cards(delta) == [str(ro.id)]
    assert "Meriadoc" not in delta and "Hamfast Gamgee" in delta
    assert _counts(delta) == {}  # no count moved


def test_changes_of_several_versions_come_in_one_delta(viewer, ro):
    other = factories.make_repair_order(shop=ro.shop, repair_number="B", stage_id=2)
    client = signed_in(viewer)
    html = _page(client)
    _move(ro, 3)
    _move(other, 4)
    _move(ro, 5)
    response = _catch_up(client, html)
    assert response["Board-Version"] == "3"
    assert sorted(_cards(response.content.decode())) == sorted([str(ro.id), str(other.id)])
    assert _counts(response.content.decode()) == {1: 0, 2: 0, 4: 1, 5: 1}


# ---- Filtered boards --------------------------------------------------------------------------------------


def test_a_filtered_board_gets_matching_cards_and_loses_the_others(viewer, ro):
    rental = factories.make_repair_order(shop=ro.shop, repair_number="R2", rental_car=True, stage_id=2)
    plain = factories.make_repair_order(shop=ro.shop, repair_number="P3", rental_car=False, stage_id=2)
    client = signed_in(viewer)
    html = _page(client, "?rental=1")
    assert _board_attrs(html)["changes-url"] == f"{CHANGES}?rental=1"
    _move(rental, 6)
    _move(plain, 6)  # not on this board: not sent
    _patch(ro, rental_car=False)  # no longer matches: removed
    delta = _catch_up(client, html).content.decode()
    assert _cards(delta) == [str(rental.id)]
    assert f'<i data-removed="{ro.id}"></i>' in delta
    assert f'<i data-removed="{plain.id}"></i>' in delta
    # Counts of the filtered board: stage 1 lost the Baggins car, stage 2 its rental, 6 gained one.
    assert _counts(delta) == {1: 0, 2: 0, 6: 1}
    assert "<strong>1</strong> of 3 cars" in delta


def test_a_searched_board_gets_a_car_that_now_matches(viewer, ro):
    other = factories.make_repair_order(shop=ro.shop, repair_number="77", customer_last_name="Sackville")
    client = signed_in(viewer)
    html = _page(client, "?q=baggins")
    _patch(other, customer_last_name="Sackville-Baggins")
    delta = _catch_up(client, html).content.decode()
    assert _cards(delta) == [str(other.id)]
    assert _counts(delta) == {1: 2}
    assert "<strong>2</strong> of 2 cars" in delta


# ---- The whole board instead ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no since", "unknown"),
        ("since not a number", "unknown"),
        ("since from the future", "unknown"),
        ("since too old", "too-old"),
        ("thresholds changed since", "redraw"),
        ("clock moved on", "clock"),
        ("many cards changed", "big"),
    ],
)
def test_the_whole_board_comes_when_a_delta_is_not_the_answer(viewer, ro, case, reason):
    client = signed_in(viewer)
    html = _page(client)
    params = {}
    if case == "no since":
        params = {"since": ""}
    elif case == "since not a number":
        params = {"since": "x1"}
    elif case == "since from the future":
        params = {"since": "99"}
    elif case == "since too old":
        _move(ro, 2)
        BoardVersion.objects.filter(shop_id=33).update(version=DELTA_VERSION_LIMIT + 5)
    elif case == "thresholds changed since":
        services.shop_settings_update(shop_id=33, days_in_stage_amber=1, days_in_stage_red=2)
    elif case == "clock moved on":
        _move(ro, 2)
        params = {"clock": "1"}
    elif case == "many cards changed":
        for n in range(DELTA_CARD_LIMIT):
            factories.make_repair_order(shop=ro.shop, repair_number=f"N{n}")
        RepairOrder.objects.filter(shop_id=33).update(board_version=1)
        _move(ro, 2)
    response = _catch_up(client, html, **params)
    assert response.status_code == 200
    assert response["Board-Delta"] == f"whole; reason={reason}"
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="board"')
    assert response["Board-Version"] == _board_attrs(body)["board-version"] == str(board_version(shop_id=33))


# ---- Guard ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("outsider", CHANGES, 404),
        ("manager", "/shops/44/board/changes/", 404),
        ("viewer", "/shops/44/board/changes/?since=0", 404),
        ("anonymous", CHANGES, 302),
    ],
)
def test_changes_of_another_shop_are_not_found(actors, ro, other_ro, who, path, status):
    _move(other_ro, 5)
    client = signed_in(actors[who]) if who != "anonymous" else Client()
    response = client.get(path, {"since": "0"})
    assert response.status_code == status
    assert b"606471" not in response.content


# ---- Costs -------------------------------------------------------------------------------------------------------


def test_the_catch_up_costs_a_fixed_number_of_queries(viewer, shop):
    load_shop(shop, 60)
    client = signed_in(viewer)
    html = _page(client)
    with CaptureQueriesContext(connection) as idle:
        assert _catch_up(client, html).status_code == 204
    # session, user, membership, board version.
    assert len(idle) == 4, [q["sql"] for q in idle]
    ros = list(RepairOrder.objects.filter(shop=shop).order_by("id")[:5])
    for ro in ros:
        _move(ro, 14)
    with CaptureQueriesContext(connection) as busy:
        response = _catch_up(client, html)
    assert response["Board-Delta"] == "cards"
    assert len(_cards(response.content.decode())) == 5
    # ... and the changed cards, their teams, the counts: whatever the board's size.
    assert len(busy) == 7, [q["sql"] for q in busy]


def test_a_one_card_delta_is_under_5_percent_of_the_gzipped_500_card_board(viewer, shop, capsys):
    load_shop(shop, 500)
    client = signed_in(viewer)
    html = _page(client)
    whole = client.get(CHANGES, headers={**HTMX, "Accept-Encoding": "gzip"})
    assert whole["Board-Delta"] == "whole; reason=unknown"
    assert whole["Content-Encoding"] == "gzip"
    assert len(re.findall(r"<article class=\"card", gzip.decompress(whole.content).decode())) == 500
    ro = RepairOrder.objects.filter(shop=shop, stage_id=3).first()
    _move(ro, 4)
    delta = _catch_up(client, html, gzip=True)
    body = gzip.decompress(delta.content) if delta.get("Content-Encoding") == "gzip" else delta.content
    assert _cards(body.decode()) == [str(ro.id)]
    with capsys.disabled():
        print(
            f"\none-card delta: {len(delta.content)} B sent ({len(body)} B raw); "
            f"whole 500-card board: {len(whole.content)} B gzipped "
            f"({len(gzip.decompress(whole.content))} B raw); "
            f"ratio {len(delta.content) / len(whole.content):.1%}"
        )
    assert len(delta.content) <= 0.05 * len(whole.content)
