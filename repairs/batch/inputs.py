"""What the batch pipeline takes and gives: plain data, no HTTP and no pydantic.

The API edge (integrations/api/parsing.py) validates a request's shape and
hands over ShopBatch entries in request order; the pipeline answers with a
WrittenRepairOrder per RO, in the same order.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..people import PERSON_FIELD_SET
from .fields import COLUMNS


class BatchMode(StrEnum):
    CREATE = "create"  # POST
    UPDATE = "update"  # PATCH


@dataclass(frozen=True)
class TeamMemberInput:
    external_id: str
    # Only the person fields the request gave (repairs.people: omitted keeps, None clears).
    fields: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self):
        # issuperset first: no set is built for the 3,000 members of a batch that are right.
        if not PERSON_FIELD_SET.issuperset(self.fields):
            raise ValueError(f"Not person fields: {sorted(self.fields.keys() - PERSON_FIELD_SET)}")


@dataclass(frozen=True)
class RepairOrderInput:
    repair_number: str
    # The columns sent (repairs.batch.fields.columns_sent); the others keep
    # their value (PATCH) or take the column's default (POST).
    fields: Mapping[str, Any] = field(default_factory=dict)
    # None: the team was not sent (kept as is); a sequence replaces it.
    team: Sequence[TeamMemberInput] | None = None

    def __post_init__(self):
        if not COLUMNS.issuperset(self.fields):
            raise ValueError(f"Not batch fields: {sorted(self.fields.keys() - COLUMNS)}")
        if self.team is not None and len({m.external_id for m in self.team}) != len(self.team):
            raise ValueError(f"Team of RO {self.repair_number} names a person twice.")


@dataclass(frozen=True)
class ShopBatch:
    shop_id: int
    # None marks an RO the caller could not read at all: it keeps its
    # position (problems are reported by index) but is not checked.
    repair_orders: Sequence[RepairOrderInput | None]


@dataclass(frozen=True, slots=True)
class WrittenRepairOrder:
    """An RO a batch wrote: what the caller answers with, without loading the RO."""

    id: int
    shop_id: int
    repair_number: str
    stage_id: int
