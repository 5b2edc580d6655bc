"""The one map between an RO's API fields (SPEC §3 names and nesting) and its columns.

The API nests `vehicle`, `customer` and `insurance`; RepairOrder stores them
flat (`vehicle.year` is `vehicle_year`). Reading a batch (`columns_sent`),
writing it (repairs/batch/sql.py) and reading an RO back (`api_fields`) all go
through this map, so a new field is added here and on the model only.
"""

from collections.abc import Mapping
from typing import Any

# API name = column name.
SCALARS = (
    "scheduled_arrival",
    "scheduled_complete",
    "scheduled_delivery",
    "obs_event_id",
    "rental_car",
    "total_estimated_hours",
    "status",
)
GROUPS = {
    "vehicle": ("year", "make", "model", "color", "vin", "license_plate"),
    "customer": ("first_name", "last_name", "email", "phone_number"),
    "insurance": ("name",),
}
# group -> ((field, column), ...)
GROUP_COLUMNS = {group: tuple((name, f"{group}_{name}") for name in names) for group, names in GROUPS.items()}
_SCALARS = frozenset(SCALARS)
# Every RepairOrder column a batch may set; everything else (stage, version, ...)
# belongs to the shop floor.
COLUMNS = frozenset(SCALARS) | {column for pairs in GROUP_COLUMNS.values() for _, column in pairs}


def columns_sent(sent: Mapping[str, Any]) -> dict[str, Any]:
    """The columns an RO's sent API fields set: the batch's merge rule, written once.

    `sent` holds only the fields the request carried (nested objects as
    mappings of their sent fields). A field sent replaces the column, `None`
    clears it; an object sent as `None` clears each of its fields; an object's
    field left out, like a top-level field left out, is not in the result, so
    a PATCH keeps the stored value and a POST writes the column's default.
    """
    columns: dict[str, Any] = {}
    for name, value in sent.items():
        pairs = GROUP_COLUMNS.get(name)
        if pairs is None:
            if name not in _SCALARS:
                raise ValueError(f"Not a batch field: {name!r}")
            columns[name] = value
        elif value is None:
            for _, column in pairs:
                columns[column] = None
        else:
            for field, column in pairs:
                if field in value:
                    columns[column] = value[field]
    return columns


def api_fields(repair_order: Any) -> dict[str, Any]:
    """An RO's batch fields in the API's shape, every one present (SPEC §4):
    a field never set or cleared is None, an object with nothing set has each
    of its fields None."""
    fields = {name: getattr(repair_order, name) for name in SCALARS}
    for group, pairs in GROUP_COLUMNS.items():
        fields[group] = {field: getattr(repair_order, column) for field, column in pairs}
    return fields
