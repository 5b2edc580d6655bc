"""The batch and read API (SPEC §2–§4), mounted by shopboard.api under /api/v1/."""

from ninja import Router

from . import batch, flow, health, reads

router = Router()
router.add_router("", health.router)
router.add_router("", batch.router)
# Before reads: its RO path takes any text as the number, "…/stage-changes" too.
router.add_router("", flow.router)
router.add_router("", reads.router)
