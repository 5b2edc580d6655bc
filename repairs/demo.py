"""Demo data for a newcomer's first run: two shops, people, ROs in every stage."""

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from .models import Person, RepairOrder, RepairTeamMember, Shop, Stage

VEHICLES = [
    (2019, "Toyota", "Camry", "Silver"), (2021, "Honda", "Civic", "Blue"), (2018, "Ford", "F-150", "Black"),
    (2020, "Chevrolet", "Silverado", "Red"), (2022, "Tesla", "Model 3", "White"), (2017, "Subaru", "Outback", "Green"),
    (2016, "Nissan", "Altima", "Grey"), (2023, "Hyundai", "Tucson", "Blue"), (2015, "Jeep", "Wrangler", "Orange"),
    (2020, "BMW", "X3", "Black"), (2019, "Kia", "Soul", "Yellow"), (2021, "Mazda", "CX-5", "Red"),
]
CUSTOMERS = [
    ("Bilbo", "Baggins"), ("Frodo", "Baggins"), ("Samwise", "Gamgee"), ("Rosie", "Cotton"), ("Peregrin", "Took"),
    ("Lobelia", "Sackville"), ("Farmer", "Maggot"), ("Fredegar", "Bolger"), ("Esmeralda", "Brandybuck"),
]
INSURERS = ["State Farm", "GEICO", "Progressive", "Allstate", "USAA", None]
STAFF = [
    ("4849843", "Meriadoc", "Brandybuck", "Estimator"), ("4849844", "Hamfast", "Gamgee", "Body Technician"),
    ("4849845", "Daisy", "Boffin", "Painter"), ("4849846", "Otho", "Bracegirdle", "Detailer"),
    ("4849847", "Ponto", "Proudfoot", "Mechanic"),
]


@transaction.atomic
def demo_load(*, shops: dict[int, str], ros_per_shop: int = 36, seed: int = 7) -> list[Shop]:
    """Create (or top up) demo shops with ROs spread over the stages. Idempotent."""
    rng = random.Random(seed)
    now = timezone.now()
    stages = list(Stage.objects.order_by("position"))
    created_shops = []
    for shop_id, name in shops.items():
        shop, _ = Shop.objects.get_or_create(id=shop_id, defaults={"name": name})
        created_shops.append(shop)
        people = [
            Person.objects.update_or_create(
                shop=shop, external_id=ext, defaults={"first_name": f, "last_name": l, "title": t}
            )[0]
            for ext, f, l, t in STAFF
        ]
        for i in range(ros_per_shop):
            number = f"{shop_id}{i + 1:04d}"
            if RepairOrder.objects.filter(shop=shop, repair_number=number).exists():
                continue
            year, make, model, color = rng.choice(VEHICLES)
            first, last = rng.choice(CUSTOMERS)
            # Most cars are in production; a few are waiting or done.
            stage = stages[min(int(rng.triangular(0, len(stages), 6)), len(stages) - 1)]
            # Cars early in production are further from delivery; about one in
            # eight runs late, as in a real shop.
            progress = stages.index(stage) / (len(stages) - 1)
            arrival = now - timedelta(days=round(1 + progress * 12 + rng.random() * 3))
            delivery = now + timedelta(days=round((1 - progress) * 10 + rng.random() * 3), hours=rng.randint(0, 8))
            if rng.random() < 0.12:
                delivery = now - timedelta(days=rng.randint(1, 3))
            ro = RepairOrder.objects.create(
                shop=shop,
                repair_number=number,
                stage=stage,
                # Most cars move on within a few days; a few get stuck.
                stage_entered_at=now - timedelta(hours=min(1 + int(rng.expovariate(1 / 50)), 24 * 12)),
                status="Active",
                scheduled_arrival=arrival,
                scheduled_complete=delivery - timedelta(days=1),
                scheduled_delivery=delivery,
                obs_event_id=f"{rng.getrandbits(32):08X}-{rng.getrandbits(16):04X}-{rng.getrandbits(16):04X}-"
                f"{rng.getrandbits(64):016X}"[:35],
                rental_car=rng.random() < 0.4,
                total_estimated_hours=Decimal(rng.randint(4, 80)) / 2,
                vehicle_year=year,
                vehicle_make=make,
                vehicle_model=model,
                vehicle_color=color,
                customer_first_name=first,
                customer_last_name=last,
                customer_email=f"{first.lower()}.{last.lower()}@example.com",
                customer_phone_number=f"555{rng.randint(1000000, 9999999)}",
                insurance_name=rng.choice(INSURERS),
            )
            for position, person in enumerate(rng.sample(people, rng.randint(1, 3))):
                RepairTeamMember.objects.create(repair_order=ro, person=person, position=position)
    return created_shops
