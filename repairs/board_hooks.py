"""Extension points of the board for the integrations, without repairs importing them.

The domain must not import integrations (ARCHITECTURE.md), yet a card shows an
OBS delivery problem and the board must refresh when one appears. So an
integration registers, from its AppConfig.ready():

- a *card annotation*: a function taking the board's RepairOrder QuerySet and
  returning it annotated (e.g. `obs_problem=Subquery(...)`). It runs inside the
  board's one RO query, so it costs no extra query. Cards render
  `ro.obs_problem` when it is set (templates/repairs/partials/obs_badge.html).
- a *change token*: a name and a function returning a Subquery expression
  over the shop (OuterRef("pk") is the shop id), e.g. the max updated_at of the
  shop's failed notifications. It becomes part of the board's ETag, computed
  in the same single query as the RO change check.
"""

from collections.abc import Callable

from django.db.models import Expression, QuerySet

CardAnnotation = Callable[[QuerySet], QuerySet]
ChangeToken = Callable[[], Expression]

_card_annotations: list[CardAnnotation] = []
_change_tokens: dict[str, ChangeToken] = {}


def register_card_annotation(annotate: CardAnnotation) -> None:
    if annotate not in _card_annotations:
        _card_annotations.append(annotate)


def register_change_token(name: str, expression: ChangeToken) -> None:
    _change_tokens[name] = expression


def card_annotations() -> list[CardAnnotation]:
    return list(_card_annotations)


def change_tokens() -> dict[str, ChangeToken]:
    return dict(_change_tokens)
