"""JSON answers: an RO read back (SPEC §4) and plain JSON responses."""

import json
from typing import Any

from django.http import HttpResponse
from pydantic import BaseModel

from repairs.batch.fields import api_fields
from repairs.models import RepairOrder

from .schemas import RepairOrderOut, TeamMemberOut


def json_response(data: Any, status: int = 200) -> HttpResponse:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return HttpResponse(json.dumps(data), status=status, content_type="application/json")


def repair_order_json(ro: RepairOrder, *, team: list[dict] | None = None) -> dict:
    return repair_order_out(ro, team=team).model_dump(mode="json")


def repair_order_out(ro: RepairOrder, *, team: list[dict] | None = None) -> RepairOrderOut:
    """Every field, null when not set (SPEC §4). Expects stage and
    team_links__person to be loaded (see repairs.selectors), unless `team`
    is given: the team already read, in order, as dicts of TeamMemberOut's
    fields (integrations.webhooks.selectors.endpoints_listening's)."""
    return RepairOrderOut(
        shop_id=ro.shop_id,
        repair_number=ro.repair_number,
        **api_fields(ro),
        repair_team=[
            TeamMemberOut(
                id=link.person.external_id,
                first_name=link.person.first_name,
                last_name=link.person.last_name,
                title=link.person.title,
            )
            for link in ro.team_links.all()
        ]
        if team is None
        else [TeamMemberOut(**member) for member in team],
        stage_id=ro.stage_id,
        stage_name=ro.stage.name,
        stage_entered_at=ro.stage_entered_at,
        created_at=ro.created_at,
        updated_at=ro.updated_at,
        version=ro.version,
    )
