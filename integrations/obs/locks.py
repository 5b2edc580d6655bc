"""OBS's lane of the shared ordering rule (integrations/delivery/locks.py):
the same lock, lease and fencing token, for the lane named "obs"."""

from ..delivery import locks
from ..delivery.locks import OBS_LANE, run_reconnecting  # noqa: F401

__all__ = ["fence_claim", "fence_release", "repair_order_delivery_lock", "run_reconnecting"]


def _key(repair_order_id: int) -> int:
    return locks._key(repair_order_id, OBS_LANE)


def repair_order_delivery_lock(repair_order_id: int):
    return locks.repair_order_delivery_lock(repair_order_id, destination=OBS_LANE)


def fence_claim(*, repair_order_id: int, hold_seconds: float) -> int | None:
    return locks.fence_claim(repair_order_id=repair_order_id, hold_seconds=hold_seconds, destination=OBS_LANE)


def fence_release(*, repair_order_id: int, token: int) -> bool:
    return locks.fence_release(repair_order_id=repair_order_id, token=token, destination=OBS_LANE)
