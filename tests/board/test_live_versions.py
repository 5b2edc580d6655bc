"""The board version per shop (repairs.live): every writer bumps it exactly once per
committed transaction and stamps the cards it changed; a rolled-back write leaves no
trace; NOTIFY reaches a listener on commit only; concurrent writers of one shop get
distinct consecutive versions."""

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from integrations.beacons.services import BeaconEvent, beacon_event_apply
from integrations.models import BeaconTag, BeaconZone
from repairs import services
from repairs.batch import (
    BatchRejected,
    RepairOrderInput,
    ShopBatch,
    TeamMemberInput,
    repair_orders_create,
    repair_orders_update,
)
from repairs.live import BOARD_CHANGES_CHANNEL, board_changed, board_version, board_versions
from repairs.models import RepairOrder
from tests import factories
from tests.board.conftest import HTMX, signed_in


def _stamps(*ros) -> list[int]:
    return [RepairOrder.objects.get(pk=ro.pk).board_version for ro in ros]


@pytest.fixture
def team_ro(ro):
    """The board tests' RO 606471 (stage 1, a two-person team), with its people."""
    return ro, list(ro.team.order_by("external_id"))


def _move(ro, people):
    services.repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")


def _beacon(ro, people):
    BeaconZone.objects.create(shop_id=ro.shop_id, zone_id="paint-booth", stage_id=9)
    BeaconTag.objects.create(shop_id=ro.shop_id, beacon_id="B1", repair_order=ro)
    beacon_event_apply(
        event=BeaconEvent(shop_id=ro.shop_id, beacon_id="B1", zone_id="paint-booth", seen_at=timezone.now())
    )


def _team_add(ro, people):
    other = factories.make_person(shop=ro.shop, first_name="Rosie")
    services.repair_team_member_add(repair_order_id=ro.id, person_id=other.id)


def _team_remove(ro, people):
    services.repair_team_member_remove(repair_order_id=ro.id, person_id=people[0].id)


def _person_update(ro, people):
    services.person_update(shop_id=ro.shop_id, person_id=people[0].id, person_fields={"title": "Boss"})


def _batch_patch(ro, people):
    repair_orders_update(
        shop_entries=[ShopBatch(ro.shop_id, [RepairOrderInput(ro.repair_number, {"rental_car": False})])]
    )


def _settings(ro, people):
    services.shop_settings_update(shop_id=ro.shop_id, days_in_stage_amber=2, days_in_stage_red=9)


WRITERS = {
    "move": (_move, True),
    "beacon move": (_beacon, True),
    "team member added": (_team_add, True),
    "team member removed": (_team_remove, True),
    "person's details": (_person_update, True),
    "batch PATCH": (_batch_patch, True),
    # The thresholds recolour every card: no card is stamped, boards redraw whole.
    "shop thresholds": (_settings, False),
}


@pytest.mark.parametrize("write", WRITERS.values(), ids=WRITERS.keys())
def test_each_writer_bumps_the_version_once_and_stamps_the_card(team_ro, write):
    ro, people = team_ro
    before = board_version(shop_id=ro.shop_id)
    writer, stamps_card = write
    writer(ro, people)
    assert board_version(shop_id=ro.shop_id) == before + 1
    assert _stamps(ro) == [before + 1 if stamps_card else 0]


@pytest.mark.parametrize("write", WRITERS.values(), ids=WRITERS.keys())
def test_a_rolled_back_writer_leaves_version_and_stamps_as_they_were(team_ro, write):
    ro, people = team_ro
    before = board_version(shop_id=ro.shop_id)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        write[0](ro, people)
        raise Abort
    assert board_version(shop_id=ro.shop_id) == before
    assert _stamps(ro) == [0]


def test_a_move_to_the_stage_the_car_is_in_changes_no_version(ro):
    services.repair_order_move(repair_order_id=ro.id, stage_id=ro.stage_id, source="board")
    assert board_version(shop_id=ro.shop_id) == 0


def test_a_stale_move_changes_no_version(ro):
    with pytest.raises(services.StaleVersion):
        services.repair_order_move(repair_order_id=ro.id, stage_id=5, source="board", expected_version=9)
    assert board_version(shop_id=ro.shop_id) == 0


def test_a_move_and_its_undo_through_the_board_are_two_versions(manager, ro):
    client = signed_in(manager)
    client.post(f"/shops/33/ros/{ro.id}/move/", {"stage_id": 7, "version": 1}, headers=HTMX)
    client.post(f"/shops/33/ros/{ro.id}/move/", {"stage_id": 1, "version": 2}, headers=HTMX)
    assert board_version(shop_id=33) == 2
    assert _stamps(ro) == [2]


def test_a_batch_of_two_shops_bumps_each_shop_once_and_stamps_its_cards(shop, other_shop):
    written = repair_orders_create(
        shop_entries=[
            ShopBatch(other_shop.id, [RepairOrderInput("X1", {}), RepairOrderInput("X2", {})]),
            ShopBatch(
                shop.id, [RepairOrderInput("A1", {}), RepairOrderInput("A2", {}), RepairOrderInput("A3", {})]
            ),
        ]
    )
    assert (board_version(shop_id=shop.id), board_version(shop_id=other_shop.id)) == (1, 1)
    assert {RepairOrder.objects.get(pk=ro.id).board_version for ro in written} == {1}
    repair_orders_update(shop_entries=[ShopBatch(shop.id, [RepairOrderInput("A1", {"status": "Closed"})])])
    assert (board_version(shop_id=shop.id), board_version(shop_id=other_shop.id)) == (2, 1)


def test_a_batch_renaming_a_person_stamps_their_other_cards(shop):
    repair_orders_create(
        shop_entries=[
            ShopBatch(
                shop.id,
                [
                    RepairOrderInput("A1", {}, [TeamMemberInput("P1", {"first_name": "Sam"})]),
                    RepairOrderInput("A2", {}, [TeamMemberInput("P1")]),
                ],
            )
        ]
    )
    # A2 is not in this batch, but shows P1's initials.
    repair_orders_create(
        shop_entries=[
            ShopBatch(shop.id, [RepairOrderInput("A3", {}, [TeamMemberInput("P1", {"last_name": "Gamgee"})])])
        ]
    )
    a2 = RepairOrder.objects.get(shop=shop, repair_number="A2")
    assert (board_version(shop_id=shop.id), a2.board_version) == (2, 2)
    # Naming P1 again with the same details changes no other card.
    repair_orders_create(
        shop_entries=[
            ShopBatch(shop.id, [RepairOrderInput("A4", {}, [TeamMemberInput("P1", {"last_name": "Gamgee"})])])
        ]
    )
    assert RepairOrder.objects.get(pk=a2.pk).board_version == 2


def test_a_rejected_batch_changes_no_version(shop):
    factories.make_repair_order(shop=shop, repair_number="TAKEN")
    with pytest.raises(BatchRejected):
        repair_orders_create(
            shop_entries=[ShopBatch(shop.id, [RepairOrderInput("NEW", {}), RepairOrderInput("TAKEN", {})])]
        )
    assert board_versions(shop_id=shop.id) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_board_changed_outside_a_transaction_is_refused(shop):
    with pytest.raises(RuntimeError):
        board_changed(shop_id=shop.id, repair_order_ids=[])


# ---- Across connections: real commits ---------------------------------------------------------------------


def _listener() -> psycopg.Connection:
    settings = connection.settings_dict
    listener = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )
    listener.execute(f"LISTEN {BOARD_CHANGES_CHANNEL}")
    return listener


def _received(listener: psycopg.Connection) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=0.5)]


@pytest.mark.django_db(transaction=True)
def test_notify_reaches_another_connection_on_commit_only(shop):
    ro = factories.make_repair_order(shop=shop)
    listener = _listener()
    try:
        with transaction.atomic():
            services.repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
            assert _received(listener) == []  # not before the commit
        assert _received(listener) == [f"{shop.id}:1"]
        with pytest.raises(services.StaleVersion), transaction.atomic():
            services.repair_order_move(repair_order_id=ro.id, stage_id=4, source="board")
            # A second write of the transaction fails: the whole transaction rolls back.
            services.repair_order_move(repair_order_id=ro.id, stage_id=5, source="board", expected_version=1)
        assert _received(listener) == []  # never for a rolled-back move
        services.repair_order_move(repair_order_id=ro.id, stage_id=5, source="board")
        assert _received(listener) == [f"{shop.id}:2"]
    finally:
        listener.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_in_one_shop_get_distinct_consecutive_versions(shop):
    ros = [factories.make_repair_order(shop=shop) for _ in range(8)]
    start = threading.Barrier(len(ros))
    versions, errors = [], []

    def move(ro):
        try:
            start.wait()
            result = services.repair_order_move(repair_order_id=ro.id, stage_id=2, source="board")
            versions.append(result.repair_order.board_version)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=move, args=(ro,)) for ro in ros]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(versions) == list(range(1, len(ros) + 1))
    assert sorted(RepairOrder.objects.filter(shop=shop).values_list("board_version", flat=True)) == sorted(
        versions
    )
    assert board_version(shop_id=shop.id) == len(ros)


@pytest.mark.django_db(transaction=True)
def test_a_board_that_saw_a_version_never_misses_a_change_committed_after_it(shop):
    """The version row is locked until the writer commits: a later writer waits and
    takes the next number, so no committed change ever has a number a reader skipped."""
    ro = factories.make_repair_order(shop=shop)
    other = factories.make_repair_order(shop=shop)
    first_holds = threading.Event()
    release = threading.Event()
    second_version = []

    def slow_first():
        with transaction.atomic():
            services.repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
            first_holds.set()
            release.wait(timeout=30)
        connections.close_all()

    def second():
        first_holds.wait(timeout=30)
        result = services.repair_order_move(repair_order_id=other.id, stage_id=3, source="board")
        second_version.append(result.repair_order.board_version)
        connections.close_all()

    threads = [threading.Thread(target=slow_first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_holds.wait(timeout=30)
    # While the first is uncommitted, a reader sees neither change.
    assert board_version(shop_id=shop.id) == 0
    release.set()
    for thread in threads:
        thread.join(timeout=60)
    assert second_version == [2]
    assert board_version(shop_id=shop.id) == 2


def test_versions_of_one_shop_do_not_move_another_shops(ro, other_ro):
    services.repair_order_move(repair_order_id=ro.id, stage_id=4, source="board")
    assert (board_version(shop_id=ro.shop_id), board_version(shop_id=other_ro.shop_id)) == (1, 0)


def test_a_day_old_board_version_row_is_not_needed_to_start(shop):
    # The first change of a shop creates its row (no migration data needed for 10,000 shops).
    ro = factories.make_repair_order(shop=shop, stage_entered_at=timezone.now() - timedelta(days=1))
    assert board_versions(shop_id=shop.id) == (0, 0)
    services.repair_order_move(repair_order_id=ro.id, stage_id=2, source="board")
    assert board_versions(shop_id=shop.id) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_guessed_version_went_stale_stamps_its_cards_with_the_real_one(shop):
    """The batch writes its cards with the version it expects (repairs.live
    board_version_predicted); another writer of the shop committing in between
    makes that guess wrong, and the cards must still carry the batch's real version."""
    from repairs.signals import repair_orders_created

    other = factories.make_repair_order(shop=shop)

    def move_elsewhere_meanwhile(**kwargs):
        thread = threading.Thread(target=_move_in_own_connection, args=(other.id,))
        thread.start()
        thread.join(timeout=30)

    repair_orders_created.connect(move_elsewhere_meanwhile, dispatch_uid="stale-guess")
    try:
        written = repair_orders_create(
            shop_entries=[ShopBatch(shop.id, [RepairOrderInput("G1", {}), RepairOrderInput("G2", {})])]
        )
    finally:
        repair_orders_created.disconnect(dispatch_uid="stale-guess")
    assert board_version(shop_id=shop.id) == 2  # the move's 1, then the batch's 2
    assert RepairOrder.objects.get(pk=other.pk).board_version == 1
    assert {RepairOrder.objects.get(pk=ro.id).board_version for ro in written} == {2}


def _move_in_own_connection(repair_order_id: int) -> None:
    try:
        services.repair_order_move(repair_order_id=repair_order_id, stage_id=2, source="board")
    finally:
        connections.close_all()
