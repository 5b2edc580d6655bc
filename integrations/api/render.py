"""JSON answers: an RO read back (SPEC §4) and plain JSON responses."""

import json
from typing import Any

from django.http import HttpResponse
from pydantic import BaseModel

from repairs.models import RepairOrder

from .schemas import CustomerOut, InsuranceOut, RepairOrderOut, TeamMemberOut, VehicleOut


def json_response(data: Any, status: int = 200) -> HttpResponse:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return HttpResponse(json.dumps(data), status=status, content_type="application/json")


def repair_order_json(ro: RepairOrder) -> dict:
    # Unset fields are left out (not null), so a sample read back equals what was sent.
    return repair_order_out(ro).model_dump(mode="json", exclude_none=True)


def _group(model: type[BaseModel], ro: RepairOrder, prefix: str) -> BaseModel | None:
    values = {name: getattr(ro, f"{prefix}_{name}") for name in model.model_fields}
    # An object with nothing set is left out, as it was when not sent.
    return model(**values) if any(v is not None for v in values.values()) else None


def repair_order_out(ro: RepairOrder) -> RepairOrderOut:
    """Expects stage and team_links__person to be loaded (see repairs.selectors)."""
    return RepairOrderOut(
        shop_id=ro.shop_id,
        repair_number=ro.repair_number,
        scheduled_arrival=ro.scheduled_arrival,
        scheduled_complete=ro.scheduled_complete,
        scheduled_delivery=ro.scheduled_delivery,
        obs_event_id=ro.obs_event_id,
        rental_car=ro.rental_car,
        total_estimated_hours=ro.total_estimated_hours,
        status=ro.status,
        vehicle=_group(VehicleOut, ro, "vehicle"),
        customer=_group(CustomerOut, ro, "customer"),
        insurance=_group(InsuranceOut, ro, "insurance"),
        repair_team=[
            TeamMemberOut(
                id=link.person.external_id,
                first_name=link.person.first_name,
                last_name=link.person.last_name,
                title=link.person.title,
            )
            for link in ro.team_links.all()
        ],
        stage_id=ro.stage_id,
        stage_name=ro.stage.name,
        stage_entered_at=ro.stage_entered_at,
        created_at=ro.created_at,
        updated_at=ro.updated_at,
        version=ro.version,
    )
