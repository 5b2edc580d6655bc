"""Reads of the webhooks: endpoints, their live secrets, deliveries."""

from collections.abc import Collection
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, JSONField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from repairs.models import Person, RepairOrder, RepairTeamMember

from ..delivery.models import Destination, Message
from ..delivery.selectors import delivery_log
from .models import WebhookEndpoint, WebhookMessage
from .secrets import secret_decrypt

State = WebhookMessage.State


def endpoints_of_shop(*, shop_id: int) -> QuerySet[WebhookEndpoint]:
    return (
        WebhookEndpoint.objects.filter(shop_id=shop_id)
        .annotate(
            failed_count=Count("messages", filter=Q(messages__state=State.FAILED)),
            pending_count=Count("messages", filter=Q(messages__state=State.PENDING)),
        )
        .order_by("id")
    )


def endpoint_of_shop(*, shop_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(shop_id=shop_id, pk=endpoint_id).first()


# repair_order_out's team (TeamMemberOut's fields), in repairs.selectors' order.
_TEAM_SQL = f"""(
    SELECT jsonb_agg(
        jsonb_build_object(
            'id', p.external_id, 'first_name', p.first_name, 'last_name', p.last_name, 'title', p.title
        )
        ORDER BY m.position, m.id
    )
    FROM {RepairTeamMember._meta.db_table} m JOIN {Person._meta.db_table} p ON p.id = m.person_id
    WHERE m.repair_order_id = %s
)"""


def endpoints_listening(
    *, shop_ids: Collection[int] | None = None, repair_order_ids=None, team_of: int | None = None
):
    """Enabled endpoints of the given shops (or of the ROs' shops): one query.

    `team_of`: an RO id; each endpoint then carries `team`, that RO's team as
    the read API lists it (position, id order; dicts of TeamMemberOut's
    fields, None when it has nobody), read in the same statement: a move
    with endpoints reads its body's team without a query of its own. It is
    an uncorrelated subquery (an InitPlan), which PostgreSQL evaluates only
    when a row needs it: a shop without endpoints does not read the team."""
    endpoints = WebhookEndpoint.objects.filter(enabled=True)
    if shop_ids is not None:
        endpoints = endpoints.filter(shop_id__in=list(shop_ids))
    if repair_order_ids is not None:
        endpoints = endpoints.filter(
            shop_id__in=RepairOrder.objects.filter(pk__in=list(repair_order_ids)).values("shop_id")
        )
    endpoints = endpoints.only("id", "shop_id", "events")
    if team_of is not None:
        # Raw: built by the ORM (a Subquery of a JSONBAgg of a JSONObject) the
        # statement cost ~1.5 ms of Python to compile, more than the query it saves.
        endpoints = endpoints.annotate(team=RawSQL(_TEAM_SQL, [team_of], output_field=JSONField()))
    return endpoints


def secrets_live(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> list[str]:
    """The secrets that sign a message now: the current one, and the previous
    one for 24 h after a rotation."""
    now = now or timezone.now()
    live = [secret_decrypt(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_until
        and now < endpoint.previous_secret_until
    ):
        live.append(secret_decrypt(endpoint.previous_secret_encrypted))
    return live


def endpoint_deliveries(*, endpoint_id: int, limit: int = 50) -> list[Message]:
    """An endpoint's newest messages, each with its attempts (the delivery log)."""
    return delivery_log(destination=Destination.WEBHOOK, endpoint_id=endpoint_id, limit=limit)


def endpoints_disabled_with_reason(*, shop_id: int) -> QuerySet[WebhookEndpoint]:
    """Endpoints the engine disabled (410, days of failure): what managers must see."""
    return WebhookEndpoint.objects.filter(shop_id=shop_id, enabled=False).exclude(disabled_reason="")


# The board's top bar shows the disabled endpoints on every page load and poll
# of a manager's board, whose query budget has no room for them (docs/board.md):
# they come from the cache, dropped by every write that enables, disables or
# deletes an endpoint (endpoints_disabled_forget); the TTL bounds what a
# process-local fallback cache (shopboard/cache.py) may keep while Redis is out.
DISABLED_CACHE_SECONDS = 60


def _disabled_cache_key(shop_id: int) -> str:
    return f"webhooks:disabled:{shop_id}"


def endpoints_disabled_cached(*, shop_id: int) -> list[WebhookEndpoint]:
    key = _disabled_cache_key(shop_id)
    disabled = cache.get(key)
    if disabled is None:
        disabled = list(endpoints_disabled_with_reason(shop_id=shop_id))
        cache.set(key, disabled, DISABLED_CACHE_SECONDS)
    return disabled


def endpoints_disabled_forget(*, shop_id: int) -> None:
    """Drop the cached list once the change that calls this commits."""
    transaction.on_commit(lambda: cache.delete(_disabled_cache_key(shop_id)))


def repair_order_deliveries(*, repair_order_id: int, limit: int = 30) -> list[Message]:
    """An RO's newest webhook messages, to every endpoint, with their attempts (the delivery log)."""
    return delivery_log(destination=Destination.WEBHOOK, repair_order_id=repair_order_id, limit=limit)
