"""Bench data set up inside Django, through the product's own services.

    python -m bench.fixtures setup '{"shops": [[101, "Bench 101"]], "key_shops": [101], ...}'

One process for all of it (a manage.py call per shop or user would cost a
Django start-up each). Prints one JSON line: what the bench needs to know.
"""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopboard.settings")


def setup(
    *, shops: list[list], key_shops: list[int], managers: list[str], manager_shops: list[int], password: str
) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from integrations.services import api_key_create
    from repairs.models import Membership
    from repairs.services import shop_create_or_update

    for shop_id, name in shops:
        shop_create_or_update(shop_id=shop_id, name=name)
    raw_key, _ = api_key_create(name="bench", shop_ids=key_shops)
    # One hash for every bench manager: each PBKDF2 hash costs ~0.3 s of CPU
    # here, and the logins (measured by nobody) verify it once per user anyway.
    hashed = make_password(password)
    User = get_user_model()
    for username in managers:
        user, _ = User.objects.update_or_create(username=username, defaults={"password": hashed})
        for shop_id in manager_shops:
            Membership.objects.update_or_create(user=user, shop_id=shop_id, defaults={"role": "manager"})
    return {"key": raw_key}


def webhook_endpoints(*, shop_id: int, urls: list[str]) -> dict:
    """Endpoints for every event (the bench's receiver is local: private addresses allowed)."""
    from django.conf import settings

    from integrations.webhooks.services import endpoint_create

    settings.WEBHOOKS_ALLOW_PRIVATE = True
    ids = [endpoint_create(shop_id=shop_id, url=url, events=["*"])[0].id for url in urls]
    return {"endpoints": ids}


def flow_summaries(*, shop_ids: list[int] | None = None) -> dict:
    """The flow summaries of histories the bench wrote by SQL, around the writers (None: every shop)."""
    from repairs.flow_summaries import flow_summaries_rebuild

    flow_summaries_rebuild(shop_ids=shop_ids)
    return {}


def scale_ops(**kwargs) -> dict:
    from . import scale_probe

    return scale_probe.ops(**kwargs)


def scale_plans(**kwargs) -> dict:
    from . import scale_probe

    return scale_probe.plans(**kwargs)


TASKS = {
    "setup": setup,
    "webhook_endpoints": webhook_endpoints,
    "flow_summaries": flow_summaries,
    "scale_ops": scale_ops,
    "scale_plans": scale_plans,
}


def main() -> None:
    import django

    django.setup()
    task, arguments = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(TASKS[task](**arguments)))


if __name__ == "__main__":
    main()
