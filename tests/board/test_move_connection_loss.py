"""A board move whose database connection dies (issue 14, defect 4), on the
real PostgreSQL: the request's own backend is terminated from a second
connection, right after the move commits or in the middle of it."""

import psycopg
import pytest
from django.db import connection, transaction
from django.db.backends.signals import connection_created

from repairs.models import RepairOrder, StageChange
from repairs.signals import stage_changed
from tests.board.conftest import HTMX, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_backend(pid: int) -> None:
    params = connection.get_connection_params()
    keep = {"dbname", "user", "password", "host", "port"}
    with psycopg.connect(**{k: v for k, v in params.items() if k in keep}, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
def connection_dies():
    """Arms the fault: 'after_commit', 'after_commit_and_reconnect' (the next
    connection dies at once too) or 'mid_move' (inside the move's transaction)."""
    when = {}

    def kill(sender, **kwargs):
        pid = connection.connection.info.backend_pid
        if when.get("at", "").startswith("after_commit"):
            transaction.on_commit(lambda: terminate_backend(pid))
        elif when.get("at") == "mid_move":
            terminate_backend(pid)

    def kill_new(sender, connection, **kwargs):
        if when.pop("at", None) == "after_commit_and_reconnect":
            terminate_backend(connection.connection.info.backend_pid)

    stage_changed.connect(kill, dispatch_uid="test-connection-dies")
    connection_created.connect(kill_new, dispatch_uid="test-connection-dies-again")
    yield when
    stage_changed.disconnect(dispatch_uid="test-connection-dies")
    connection_created.disconnect(dispatch_uid="test-connection-dies-again")


def post_move(user, ro, stage_id):
    client = signed_in(user, raise_request_exception=False)
    return client.post(f"/shops/33/ros/{ro.id}/move/", {"stage_id": stage_id, "version": 1}, headers=HTMX)


def test_a_move_committed_before_the_connection_died_answers_success(connection_dies, manager, ro):
    connection_dies["at"] = "after_commit"
    response = post_move(manager, ro, 7)
    connection_dies.clear()
    assert response.status_code == 200, response.content[:300]
    html = response.content.decode()
    assert f'id="ro-{ro.id}"' in html and "moved to BODY" in html
    ro.refresh_from_db()
    assert (ro.stage_id, ro.version) == (7, 2)


def test_a_move_cut_off_mid_transaction_says_it_is_unconfirmed_and_saves_nothing(
    connection_dies, manager, ro
):
    connection_dies["at"] = "mid_move"
    response = post_move(manager, ro, 7)
    connection_dies.clear()
    assert response.status_code == 503
    assert (
        response.content.decode()
        == "The move could not be confirmed. The board shows where the car really is."
    )
    assert RepairOrder.objects.get(pk=ro.pk).stage_id == 1
    assert not StageChange.objects.filter(repair_order=ro).exists()


def test_a_committed_move_that_cannot_be_read_back_still_answers_success_and_redraws(
    connection_dies, manager, ro
):
    connection_dies["at"] = "after_commit_and_reconnect"
    response = post_move(manager, ro, 7)
    connection_dies.clear()
    assert response.status_code == 200
    assert "RO 606471 moved. The board is catching up." in response.content.decode()
    # The dropped card stays in its new column; the board redraws itself.
    assert (response["HX-Reswap"], response["HX-Trigger"]) == ("none", "board:changed")
    ro.refresh_from_db()
    assert (ro.stage_id, ro.version) == (7, 2)
