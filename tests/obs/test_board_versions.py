"""An OBS problem appearing or clearing on a card is a change of the board (repairs.live):
the shop's version grows by one and the card is stamped; a delivery that changes no
badge changes no board. The delivery service runs in-process against a real local server."""

import pytest

from integrations.models import Notification
from integrations.obs.services import notification_deliver, notification_resend
from repairs.live import board_version
from repairs.models import RepairOrder
from repairs.services import repair_order_move
from tests.obs.support import Reply, make_obs_repair_order

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def fast(obs_settings, fake_obs):
    obs_settings.OBS_UPDATE_URL = fake_obs.url
    return obs_settings


def _newest(ro) -> Notification:
    return Notification.objects.filter(repair_order=ro).order_by("-id").first()


def _stamp(ro) -> int:
    return RepairOrder.objects.get(pk=ro.pk).board_version


def test_a_delivery_without_a_badge_change_changes_no_board(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
    assert board_version(shop_id=shop.id) == 1
    assert notification_deliver(notification_id=_newest(ro).id).outcome == "delivered"
    assert board_version(shop_id=shop.id) == 1


def test_a_failure_shows_and_a_resend_clears_it_each_one_version(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
    fake_obs.script(Reply(400, {"message": "Unknown status"}))
    assert notification_deliver(notification_id=_newest(ro).id).outcome == "failed"
    # The card now says "OBS update failed": one version, the card stamped with it.
    assert (board_version(shop_id=shop.id), _stamp(ro)) == (2, 2)
    notification_resend(notification_id=_newest(ro).id)
    # Queued again, fresh: the badge is gone.
    assert (board_version(shop_id=shop.id), _stamp(ro)) == (3, 3)
    assert notification_deliver(notification_id=_newest(ro).id).outcome == "delivered"
    assert board_version(shop_id=shop.id) == 3


def test_a_move_after_a_failure_redraws_the_card_once_and_its_delivery_not_again(fast, fake_obs, shop):
    ro = make_obs_repair_order(shop)
    repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
    fake_obs.script(Reply(400, {"message": "Unknown status"}))
    notification_deliver(notification_id=_newest(ro).id)
    assert board_version(shop_id=shop.id) == 2
    # The card shows its newest notification's problem: the move's, pending and recent, has
    # none. The move redraws the card (its own version) and the delivery changes no badge.
    repair_order_move(repair_order_id=ro.id, stage_id=5, source="board")
    assert (board_version(shop_id=shop.id), _stamp(ro)) == (3, 3)
    assert notification_deliver(notification_id=_newest(ro).id).outcome == "delivered"
    assert board_version(shop_id=shop.id) == 3
