"""Batch payloads shaped like a source system's: full ROs, teams of 3 from 50 people per shop."""

import random
from datetime import UTC, datetime, timedelta

MAKES = [
    ("Toyota", "Camry"),
    ("Honda", "Civic"),
    ("Ford", "F-150"),
    ("Chevrolet", "Silverado"),
    ("Tesla", "Model 3"),
]
COLORS = ["Red", "Blue", "Black", "White", "Silver", "Grey"]


def people(shop_id: int, count: int = 50) -> list[dict]:
    return [
        {
            "id": f"{shop_id}-{i:03d}",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "title": "Technician",
        }
        for i in range(count)
    ]


def _when(rng: random.Random, days: tuple[int, int]) -> str:
    # Around today, so a board shows some cars overdue, some due today, most later.
    moment = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    return (moment + timedelta(days=rng.randint(*days), hours=rng.randint(0, 9))).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def repair_order(shop_id: int, number: str, rng: random.Random, staff: list[dict]) -> dict:
    make, model = rng.choice(MAKES)
    return {
        "repair_number": number,
        "scheduled_arrival": _when(rng, (-20, -1)),
        "scheduled_complete": _when(rng, (0, 10)),
        "scheduled_delivery": _when(rng, (-2, 14)),
        "obs_event_id": f"{rng.getrandbits(128):032X}-BNCH"[:35],
        "rental_car": rng.random() < 0.5,
        "total_estimated_hours": rng.randint(4, 120) / 2,
        "status": "Active",
        "vehicle": {
            "year": rng.randint(2000, 2026),
            "make": make,
            "model": model,
            "color": rng.choice(COLORS),
        },
        "customer": {
            "first_name": "Bilbo",
            "last_name": f"Baggins{number}",
            "email": f"customer{number}@example.com",
            "phone_number": f"555{rng.randint(1000000, 9999999)}",
        },
        "insurance": {"name": rng.choice(["State Farm", "GEICO", "Progressive"])},
        "repair_team": rng.sample(staff, 3),
    }


def batch(*, shop_ids: list[int], ros_total: int, tag: str, seed: int = 1) -> list[dict]:
    """`ros_total` ROs spread evenly over the shops; numbers are unique per `tag`."""
    rng = random.Random(seed)
    per_shop = ros_total // len(shop_ids)
    body = []
    for shop_id in shop_ids:
        staff = people(shop_id)
        body.append(
            {
                "shop_id": shop_id,
                "repair_orders": [
                    repair_order(shop_id, f"{tag}-{i:05d}", rng, staff) for i in range(per_shop)
                ],
            }
        )
    return body


def patch_of(body: list[dict], seed: int = 2) -> list[dict]:
    """A PATCH of every RO in `body`: a new phone number and a new team."""
    rng = random.Random(seed)
    out = []
    for entry in body:
        staff = people(entry["shop_id"])
        out.append(
            {
                "shop_id": entry["shop_id"],
                "repair_orders": [
                    {
                        "repair_number": ro["repair_number"],
                        "customer": {"phone_number": f"555{rng.randint(1000000, 9999999)}"},
                        "repair_team": rng.sample(staff, 3),
                    }
                    for ro in entry["repair_orders"]
                ],
            }
        )
    return out
