"""Load demo shops, ROs, logins and an API key, and print how to use them."""

from django.core.management.base import BaseCommand

from integrations.models import ApiKey
from integrations.services import api_key_create
from repairs.demo import demo_load
from repairs.demo_history import demo_history_load
from repairs.services import membership_grant

DEMO_SHOPS = {33: "Baggins Body Shop", 44: "Sackville Collision"}
DEMO_LOGINS = [("manager", "manager"), ("estimator", "estimator"), ("viewer", "viewer")]
DEMO_PASSWORD = "shopboard-demo"


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the demo logins and an API key."

    def handle(self, *args, **options):
        shops = demo_load(shops=DEMO_SHOPS)
        demo_history_load(shop_ids=[s.id for s in shops])  # six months of closed cars, for the flow page
        for username, role in DEMO_LOGINS:
            for shop in shops:
                membership_grant(username=username, shop_id=shop.id, role=role, password=DEMO_PASSWORD)
        # A fresh key each run: the raw key is never stored, so it cannot be
        # printed again; older demo keys are revoked.
        ApiKey.objects.filter(name="demo").delete()
        raw_key, _ = api_key_create(name="demo", shop_ids=[s.id for s in shops])
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"  Shops: {', '.join(f'{s.id} {s.name}' for s in shops)}")
        self.stdout.write(f"  Logins (password '{DEMO_PASSWORD}'): " + ", ".join(u for u, _ in DEMO_LOGINS))
        self.stdout.write(f"  API key (shops {', '.join(str(s.id) for s in shops)}): {raw_key}")
