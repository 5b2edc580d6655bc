"""The demo's API key: the same key run after run, as long as it still works.

The raw key is never stored in the database (only its hash), so the demo
keeps it in a file of the checkout's ignored var/ folder
(settings.DEMO_API_KEY_FILE, readable by its owner only) to print it again.
"""

from pathlib import Path

from django.db import transaction

from repairs.models import Shop

from .models import ApiKey, hash_api_key
from .services import api_key_create

DEMO_API_KEY_NAME = "demo"


@transaction.atomic
def demo_api_key_ensure(*, shops: list[Shop], key_file: Path) -> tuple[str, bool]:
    """Return the demo key for the shops and whether it is the one of the last run.

    The key in `key_file` is kept while it is an unrevoked demo key of this
    database; otherwise every older demo key is deleted and a new one made.
    """
    shop_ids = [shop.id for shop in shops]
    raw_key = key_file.read_text().strip() if key_file.exists() else ""
    kept = (
        ApiKey.objects.filter(
            name=DEMO_API_KEY_NAME, hashed_key=hash_api_key(raw_key), revoked_at=None
        ).first()
        if raw_key
        else None
    )
    if kept is not None:
        kept.shops.set(shop_ids)
        return raw_key, True
    ApiKey.objects.filter(name=DEMO_API_KEY_NAME).delete()
    raw_key, _ = api_key_create(name=DEMO_API_KEY_NAME, shop_ids=shop_ids)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_text(raw_key + "\n")
    return raw_key, False
