"""The batch and read API (SPEC §2–§4), mounted by shopboard.api under /api/v1/."""

from ninja import Router

from . import batch, health, reads

router = Router()
router.add_router("", health.router)
router.add_router("", batch.router)
router.add_router("", reads.router)
