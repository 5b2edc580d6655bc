"""Load demo shops, ROs, logins and an API key, and print how to use them.

Lives at the edge (integrations) because the demo includes an API key;
the domain's part of the demo is repairs/demo.py.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.demo import demo_api_key_ensure
from repairs.demo import DEMO_LOGINS, DEMO_PASSWORD, demo_load, demo_logins_ensure
from repairs.demo_history import demo_history_load


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the demo logins and the demo API key."

    def handle(self, *args, **options):
        shops = demo_load()
        demo_history_load(shop_ids=[s.id for s in shops])  # six months of closed cars, for the flow page
        demo_logins_ensure(shops=shops)
        raw_key, kept = demo_api_key_ensure(shops=shops, key_file=settings.DEMO_API_KEY_FILE)
        shop_ids = ", ".join(str(s.id) for s in shops)
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"  Shops: {', '.join(f'{s.id} {s.name}' for s in shops)}")
        self.stdout.write(f"  Logins (password '{DEMO_PASSWORD}'): " + ", ".join(u for u, _ in DEMO_LOGINS))
        self.stdout.write(f"  API key (shops {shop_ids}): {raw_key}")
        if kept:
            self.stdout.write("  (the same key as the last run)")
        else:
            self.stdout.write(
                f"  (a new key: any earlier demo key no longer works; kept in {settings.DEMO_API_KEY_FILE})"
            )
