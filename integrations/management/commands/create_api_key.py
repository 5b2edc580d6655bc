from django.core.management.base import BaseCommand, CommandError

from integrations.services import api_key_create
from repairs.models import Shop


class Command(BaseCommand):
    help = "Create an API key for one or more shops and print it, once, alone on stdout."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--shop", type=int, action="append", required=True, dest="shop_ids")

    def handle(self, *args, name: str, shop_ids: list[int], **options):
        found = set(Shop.objects.filter(pk__in=shop_ids).values_list("pk", flat=True))
        missing = [str(s) for s in shop_ids if s not in found]
        if missing:
            raise CommandError(f"Shop(s) not found: {', '.join(missing)}")
        raw_key, _ = api_key_create(name=name, shop_ids=shop_ids)
        self.stdout.write(raw_key)
