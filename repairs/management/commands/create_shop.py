from django.core.management.base import BaseCommand, CommandError

from repairs.services import shop_create_or_update


class Command(BaseCommand):
    help = "Create a shop, or rename it if the id exists (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--id", type=int, required=True, dest="shop_id")
        parser.add_argument("--name", required=True)

    def handle(self, *args, shop_id: int, name: str, **options):
        if shop_id <= 0:
            raise CommandError("--id must be a positive integer.")
        if not name.strip():
            raise CommandError("--name must not be empty.")
        shop, created = shop_create_or_update(shop_id=shop_id, name=name.strip())
        self.stdout.write(f"{'Created' if created else 'Updated'} shop {shop.id}: {shop.name}")
