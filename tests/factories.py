"""Small factories: each makes the least a test needs and takes overrides."""

import itertools

from django.utils import timezone

from integrations.services import api_key_create
from repairs.models import Person, RepairOrder, RepairTeamMember, Shop
from repairs.services import membership_grant

_seq = itertools.count(1)

PASSWORD = "correct-horse-battery-staple"


def make_shop(*, id: int | None = None, name: str | None = None, **fields) -> Shop:
    n = next(_seq)
    return Shop.objects.create(id=id or 1000 + n, name=name or f"Shop {n}", **fields)


def make_repair_order(
    *, shop: Shop, repair_number: str | None = None, stage_id: int = 1, **fields
) -> RepairOrder:
    fields.setdefault("status", "Active")
    fields.setdefault("stage_entered_at", timezone.now())
    return RepairOrder.objects.create(
        shop=shop, repair_number=repair_number or f"RO-{next(_seq)}", stage_id=stage_id, **fields
    )


def make_person(*, shop: Shop, external_id: str | None = None, **fields) -> Person:
    return Person.objects.create(shop=shop, external_id=external_id or f"E{next(_seq)}", **fields)


def add_to_team(repair_order: RepairOrder, *people: Person) -> None:
    for position, person in enumerate(people):
        RepairTeamMember.objects.create(repair_order=repair_order, person=person, position=position)


def make_member(*, shop: Shop, role: str, username: str | None = None):
    user, _ = membership_grant(
        username=username or f"{role}{next(_seq)}", shop_id=shop.id, role=role, password=PASSWORD
    )
    return user


def make_api_key(*shops: Shop, name: str = "test key") -> str:
    raw_key, _ = api_key_create(name=name, shop_ids=[s.id for s in shops])
    return raw_key
