import getpass
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from repairs.models import Membership, Shop
from repairs.services import membership_grant


class Command(BaseCommand):
    help = "Create a user if needed and give them a role in a shop (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--shop", type=int, required=True, dest="shop_id")
        parser.add_argument("--role", required=True, choices=[r.value for r in Membership.Role])
        parser.add_argument("--password")

    def handle(self, *args, username: str, shop_id: int, role: str, password: str | None, **options):
        if not Shop.objects.filter(pk=shop_id).exists():
            raise CommandError(f"Shop {shop_id} does not exist.")
        generated = False
        # An existing user keeps their password unless one is given: running
        # the command again (to change a role, add a shop) must not lock them out.
        exists = get_user_model().objects.filter(username=username).exists()
        if password is None and not exists:
            if options.get("interactive", True) and self.stdin_is_tty():
                password = getpass.getpass(f"Password for {username} (empty: generate one): ") or None
            if password is None:
                password = secrets.token_urlsafe(12)
                generated = True
        user, user_created = membership_grant(
            username=username, shop_id=shop_id, role=role, password=password
        )
        self.stdout.write(
            f"{'Created' if user_created else 'Updated'} user {user.username}: {role} of shop {shop_id}"
        )
        if generated:
            self.stdout.write(f"Password: {password}")

    @staticmethod
    def stdin_is_tty() -> bool:
        import sys

        return sys.stdin is not None and sys.stdin.isatty()
