"""The board and RO detail pages (HTMX). Thin: check the member, validate, call one service, render.

One template per page; fragments are `{% partialdef %}` blocks rendered as
`template#partial` when htmx asks for a piece of a page.
"""

import hashlib
import logging
import time
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotModified
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import parse_etags, quote_etag
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import deltas, live, selectors, services
from .cards import card_decorate, cards_decorate
from .forms import BoardFilterForm, MoveForm, PersonUpdateForm, ShopSettingsForm, TeamAddForm
from .models import Membership, Person, RepairOrder, Shop, StageChange
from .permissions import EDIT_SETTINGS, EDIT_TEAM, MOVE, membership_can, shop_member_required
from .stages import STAGE_NAMES

logger = logging.getLogger(__name__)

BOARD_TEMPLATE = "repairs/board.html"
# The board version an answer brings the board to (repairs.live).
BOARD_VERSION_HEADER = "Board-Version"
# The event that makes an open board catch up (board.js; the push stream dispatches it too).
BOARD_CHANGED_EVENT = "board:changed"
# What a catch-up answer is: "cards" (a delta) or "whole; reason=…" (the board fragment).
BOARD_DELTA_HEADER = "Board-Delta"
DETAIL_TEMPLATE = "repairs/ro_detail.html"
# Days in stage and "overdue" change with the clock alone: an idle board is
# re-rendered at least this often even when no row changed.
CLOCK_BUCKET_SECONDS = 300
# A board fragment another request is rendering is waited for this long (a 500-card
# render takes ~0.3 s alone, seconds under load), looked for every SHARED_RENDER_POLL_SECONDS.
SHARED_RENDER_WAIT_SECONDS = 5.0
SHARED_RENDER_POLL_SECONDS = 0.05


def ro_url_prefix(shop_id: int) -> str:
    """/shops/<id>/ros/: cards append "<ro id>/" themselves, cheaper than 500 {% url %} lookups."""
    return reverse("repair_order_detail", kwargs={"shop_id": shop_id, "repair_order_id": 1}).removesuffix(
        "1/"
    )


@login_required
def home(request):
    memberships = list(selectors.memberships_of_user(user=request.user)[:2])
    if len(memberships) == 1:
        return redirect("board", shop_id=memberships[0].shop_id)
    return redirect("shop_picker")


@login_required
@require_GET
def shop_picker(request):
    memberships = selectors.memberships_of_user(user=request.user)
    return render(request, "repairs/shop_picker.html", {"memberships": memberships})


def _board_filter(request) -> selectors.BoardFilter:
    return BoardFilterForm(request.GET).board_filter()


def clock_bucket() -> int:
    """The board's clock bucket now: days in stage and overdue are drawn for it."""
    return int(timezone.now().timestamp()) // CLOCK_BUCKET_SECONDS


@dataclass(frozen=True)
class BoardState:
    """What a rendering of the board is of: the ETag, and the board version and clock
    bucket the board carries for its catch-up (board_changes)."""

    etag: str
    version: int
    clock: int


def _board_state(membership: Membership, board_filter: selectors.BoardFilter) -> BoardState:
    clock = clock_bucket()
    token, version = selectors.board_change_state(shop_id=membership.shop_id)
    # Whether the user may move decides what is drawn (drag handles, move
    # buttons); nothing else of the user is in the board. The filter decides
    # which cars are drawn: a filtered board and the whole one never share an ETag.
    drawn_for = "mover" if membership_can(membership, MOVE) else "looker"
    filtered = hashlib.blake2b(board_filter.query_string().encode(), digest_size=6).hexdigest()
    return BoardState(quote_etag(f"{token}-{drawn_for}-{filtered}-{clock}"), version, clock)


def _board_context(
    request, membership: Membership, board_state: BoardState, board_filter: selectors.BoardFilter
) -> dict:
    shop = membership.shop
    now = timezone.now()
    board = selectors.board_load(shop_id=shop.id, now=now, board_filter=board_filter)
    cards_decorate([ro for column in board.columns for ro in column.cards], shop=shop, now=now)
    board_path = reverse("board", kwargs={"shop_id": shop.id})
    changes_path = reverse("board_changes", kwargs={"shop_id": shop.id})
    query = board_filter.query_string()
    return {
        "shop": shop,
        "membership": membership,
        "can_move": membership_can(membership, MOVE),
        "board": board,
        "columns": board.columns,
        "board_filter": board_filter,
        "etag": board_state.etag,
        "board_version": board_state.version,
        "board_clock": board_state.clock,
        "column_card_limit": selectors.COLUMN_CARD_LIMIT,
        "board_path": board_path,
        # The catch-up asks for what the page shows: the filter survives every refresh.
        "changes_url": f"{changes_path}?{query}" if query else changes_path,
        # ...and the event stream knows whether to push deltas (drawn unfiltered) to it.
        "board_query": query,
        "ro_url_prefix": ro_url_prefix(shop.id),
        "card_count": board.total,
        "overdue_count": board.overdue,
    }


def _shared_board_fragment(
    request, membership: Membership, board_state: BoardState, board_filter: selectors.BoardFilter
) -> HttpResponse:
    """The polled fragment, rendered once per change for every board of the shop.

    It holds nothing of the user but whether they may move, which is in the ETag, and no
    CSRF token, so all boards showing the same ETag can share one rendering
    (Redis in production): after a change, ten open boards cost one render.
    """
    key = f"board-fragment:{membership.shop_id}:{board_state.etag}"
    html = cache.get(key)
    rendering = f"{key}:rendering"
    renders = html is None and cache.add(rendering, 1, SHARED_RENDER_WAIT_SECONDS)
    if html is None and not renders:
        # Another request renders it right now (the clock bucket turned on 200 open
        # boards, and a change made them all ask at once): wait for its rendering
        # rather than make 200.
        deadline = time.monotonic() + SHARED_RENDER_WAIT_SECONDS
        while html is None and time.monotonic() < deadline:
            time.sleep(SHARED_RENDER_POLL_SECONDS)
            html = cache.get(key)
    if html is None:
        context = _board_context(request, membership, board_state, board_filter) | {"fragment": True}
        try:
            html = render_to_string(f"{BOARD_TEMPLATE}#board", context, request=request)
            cache.set(key, html, CLOCK_BUCKET_SECONDS)
        finally:
            if renders:
                cache.delete(rendering)
    response = HttpResponse(html)
    response["ETag"] = board_state.etag
    response[BOARD_VERSION_HEADER] = str(board_state.version)
    return response


def _etag_matches(etag: str, if_none_match: str) -> bool:
    # If-None-Match compares weakly (RFC 9110 §13.1.2): gzip turns our ETag into W/"…".
    return etag in {tag.removeprefix("W/") for tag in parse_etags(if_none_match)}


# The board of a big shop is ~1 KiB of HTML per card and compresses tenfold;
# the CSRF token Django puts in it is masked anew per response (BREACH).
@gzip_page
@shop_member_required()
@require_GET
def board(request, *, membership: Membership):
    # The ETag is taken before the data is read: a change racing this render
    # gives the next poll a different ETag, never a stale board under a new one.
    board_filter = _board_filter(request)
    board_state = _board_state(membership, board_filter)
    if request.htmx and request.htmx.target == "board":
        # The board fragment (the search and quick filters ask for it): 304 while
        # nothing it shows has changed since the ETag the caller has.
        if _etag_matches(board_state.etag, request.headers.get("If-None-Match", "")):
            response = HttpResponseNotModified()
            response["ETag"] = board_state.etag
        else:
            response = _shared_board_fragment(request, membership, board_state, board_filter)
    else:
        context = _board_context(request, membership, board_state, board_filter)
        context["tv"] = request.GET.get("tv") == "1"
        context["people"] = selectors.people_of_shop(shop_id=membership.shop_id)
        response = render(request, BOARD_TEMPLATE, context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return _no_store(response)


def _int_param(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _counts_seen(value: str | None) -> list[int] | None:
    """The column counts the board shows ("3.0.12…", stage-position order), or None."""
    counts = [_int_param(part) for part in (value or "").split(".")]
    return counts if len(counts) == len(STAGE_NAMES) and None not in counts else None


def _stats_context(counts: selectors.BoardCounts, board_filter: selectors.BoardFilter) -> dict:
    """What the top bar's stats partial reads ("12 of 240 cars", overdue)."""
    return {
        "board": counts,
        "board_filter": board_filter,
        "card_count": counts.total,
        "overdue_count": counts.overdue,
        "fragment": True,
    }


def _no_store(response: HttpResponse) -> HttpResponse:
    # Back/Forward must fetch the board as it is now, never the browser's copy.
    patch_cache_control(response, private=True, no_cache=True, no_store=True)
    return response


# The catch-up of an open board (static/board/board.js), after a push event or on its
# poll: the cards changed since the version the board shows (repairs.deltas).
@gzip_page
@shop_member_required()
@require_GET
def board_changes(request, *, membership: Membership):
    board_filter = _board_filter(request)
    since = _int_param(request.GET.get("since"))
    version, redraw_version = live.board_versions(shop_id=membership.shop_id)
    reason = deltas.whole_board_reason(since=since, version=version, redraw_version=redraw_version)
    if reason is None and _int_param(request.GET.get("clock")) != clock_bucket():
        reason = deltas.WholeBoard.CLOCK
    if reason is None and since == version:
        response = HttpResponse(status=204)
        response[BOARD_VERSION_HEADER] = str(version)
        return _no_store(response)
    delta = None
    if reason is None:
        now = timezone.now()
        delta = deltas.board_delta_load(
            shop_id=membership.shop_id, since=since, now=now, board_filter=board_filter
        )
        reason = deltas.WholeBoard.BIG if delta is None else None
    if delta is None:
        response = _shared_board_fragment(
            request, membership, _board_state(membership, board_filter), board_filter
        )
        response[BOARD_DELTA_HEADER] = f"whole; reason={reason}"
        return _no_store(response)
    cards_decorate(delta.cards, shop=membership.shop, now=now)
    seen = _counts_seen(request.GET.get("seen"))
    columns = list(delta.counts.columns.values())
    # Only the columns whose count the board shows wrong (all, if it did not say).
    counts = [
        (column.stage.id, column.count)
        for position, column in enumerate(columns)
        if seen is None or seen[position] != column.count
    ]
    response = HttpResponse(
        delta_render(
            shop=membership.shop,
            can_move=membership_can(membership, MOVE),
            delta=delta,
            since=since,
            version=version,
            clock=clock_bucket(),
            counts=counts,
            board_filter=board_filter,
        )
    )
    response[BOARD_VERSION_HEADER] = str(version)
    response[BOARD_DELTA_HEADER] = "cards"
    return _no_store(response)


def delta_render(
    *,
    shop: Shop,
    can_move: bool,
    delta: deltas.BoardDelta,
    since: int,
    version: int,
    clock: int,
    counts: list[tuple[int, int]],
    board_filter: selectors.BoardFilter,
) -> str:
    """The delta fragment from `since` to `version` (the changed cards, the `counts`
    given as (stage id, count), the top bar): one rendering for a board's fetch
    (board_changes) and for the push stream's event (repairs.live_push). It carries
    nothing of the user but `can_move`, and no CSRF token, so boards can share it."""
    context = _stats_context(delta.counts, board_filter) | {
        "shop": shop,
        "can_move": can_move,
        "ro_url_prefix": ro_url_prefix(shop.id),
        "board_version": version,
        "board_since": since,
        "board_clock": clock,
        "delta": delta,
        "counts": counts,
    }
    return render_to_string(f"{BOARD_TEMPLATE}#delta", context)


def _repair_order_or_404(membership: Membership, repair_order_id: int) -> RepairOrder:
    try:
        return selectors.repair_order_of_shop(shop_id=membership.shop_id, repair_order_id=repair_order_id)
    except RepairOrder.DoesNotExist:
        raise Http404("No such repair order.") from None


STALE_RECENT_SECONDS = 600
# The connection to the database broke (failover, restart, network): the
# statement's outcome is unknown to this process, not wrong.
CONNECTION_LOST = (OperationalError, InterfaceError)
MOVE_UNCONFIRMED = "The move could not be confirmed. The board shows where the car really is."


def _stale_message(ro: RepairOrder) -> str:
    """Why a move was refused, in the words of the shop floor."""
    change = selectors.stage_history(repair_order_id=ro.id).first()
    recent = (
        change is not None and (timezone.now() - change.changed_at).total_seconds() < STALE_RECENT_SECONDS
    )
    if recent and change.to_stage_id == ro.stage_id:
        if change.changed_by is not None:
            who = f"by {change.changed_by.get_username()}"
        else:
            who = "by a beacon reader" if change.source == StageChange.Source.BEACON else "by the system"
        return (
            f"RO {ro.repair_number} was just moved to {ro.stage.name} {who}. The board now shows where it is."
        )
    return (
        f"RO {ro.repair_number} changed while you were moving it; it is in {ro.stage.name}. "
        "The board has been refreshed: try again if it still needs to move."
    )


@require_POST
@shop_member_required(MOVE)
def repair_order_move(request, repair_order_id: int, *, membership: Membership):
    ro = _repair_order_or_404(membership, repair_order_id)
    form = MoveForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("stage_id (1–15) and version are required.")
    try:
        result = services.repair_order_move(
            repair_order_id=ro.id,
            stage_id=form.cleaned_data["stage_id"],
            source=StageChange.Source.BOARD,
            user=request.user,
            expected_version=form.cleaned_data["version"],
        )
    except services.StaleVersion as stale:
        current = stale.repair_order
        message = _stale_message(current)
        if request.htmx:
            # The one card, where the RO really is, and the counts of its column and of
            # the one it was dropped in: not the whole board (board.js puts the card in
            # its column, then catches up with whatever else changed).
            current = _repair_order_or_404(membership, ro.id)
            stage_ids = {current.stage_id, form.cleaned_data["stage_id"]}
            return _card_answer(
                request, membership, current, stage_ids, toast=message, toast_level="warning", status=409
            )
        messages.warning(request, message)
        return redirect("board", shop_id=membership.shop_id)
    except CONNECTION_LOST:
        # Lost mid-move, maybe at COMMIT: saved or not, nobody here knows. Say
        # so; the board (static/board/board.js) reloads the card's true place.
        logger.warning("Board move of RO %s: database connection lost, outcome unknown", ro.id, exc_info=True)
        return HttpResponse(MOVE_UNCONFIRMED, status=503, content_type="text/plain; charset=utf-8")

    # The move is committed: whatever happens to the connection now, the
    # answer is a success. Drawing it reads again, on a fresh connection if
    # the old one just died.
    for _ in range(2):
        try:
            return _move_result(request, membership, ro, result)
        except CONNECTION_LOST:
            connection.close()
    logger.warning("Board move of RO %s saved; could not read it back", ro.id)
    if not request.htmx:
        return redirect("board", shop_id=membership.shop_id)
    toast = "The board is catching up."
    if result.moved:
        toast = f"RO {result.repair_order.repair_number} moved. {toast}"
    response = render(request, f"{BOARD_TEMPLATE}#toast", {"toast": toast, "toast_level": "success"})
    # Leave the dropped card where it is (its new column); redraw the board.
    response["HX-Reswap"] = "none"
    response["HX-Trigger"] = BOARD_CHANGED_EVENT
    return response


def _move_result(
    request, membership: Membership, ro: RepairOrder, result: services.MoveResult
) -> HttpResponse:
    moved = _repair_order_or_404(membership, ro.id)
    done = f"RO {moved.repair_number} moved to {moved.stage.name}." if result.moved else None
    if not request.htmx:
        # From the RO page: back to the board, which says so and shows the car (board.js).
        if done:
            messages.success(request, done)
        return redirect(f"{reverse('board', kwargs={'shop_id': membership.shop_id})}#ro-{moved.id}")
    return _card_answer(
        request,
        membership,
        moved,
        {ro.stage_id, moved.stage_id},
        toast=done,
        toast_level="success",
        # Undo is a move back, through the same service and version check (board.js).
        undo_stage_id=ro.stage_id if result.moved else None,
        undo_stage_name=STAGE_NAMES[ro.stage_id],
    )


def _card_answer(
    request, membership: Membership, ro: RepairOrder, stage_ids: set[int], *, status: int = 200, **extra
) -> HttpResponse:
    """One card as it is now, the counts of the columns given and the top bar, as the
    board (its filter rides on the move URL) shows them, and a toast: a move's answer."""
    now = timezone.now()
    card_decorate(ro, shop=membership.shop, now=now)
    board_filter = _board_filter(request)
    counts = selectors.board_counts(shop_id=membership.shop_id, now=now, board_filter=board_filter)
    context = _stats_context(counts, board_filter) | {
        "ro": ro,
        "shop": membership.shop,
        "can_move": True,
        "ro_url_prefix": ro_url_prefix(membership.shop_id),
        "counts": [(stage_id, counts.columns[stage_id].count) for stage_id in sorted(stage_ids)],
        **extra,
    }
    return render(request, f"{BOARD_TEMPLATE}#move_result", context, status=status)


# ---- RO detail and team editor ---------------------------------------------------------------------------


def _detail_context(membership: Membership, ro: RepairOrder, **extra) -> dict:
    can_edit_team = membership_can(membership, EDIT_TEAM)
    card_decorate(ro, shop=membership.shop, now=timezone.now())
    team_ids = {person.id for person in ro.team_members}
    return {
        "shop": membership.shop,
        "membership": membership,
        "ro": ro,
        "history": selectors.stage_history(repair_order_id=ro.id),
        "can_edit_team": can_edit_team,
        "can_move": membership_can(membership, MOVE),
        "stages": selectors.stage_list() if membership_can(membership, MOVE) else [],
        "people": (
            [p for p in selectors.people_of_shop(shop_id=membership.shop_id) if p.id not in team_ids]
            if can_edit_team
            else []
        ),
        "add_form": extra.pop("add_form", None) or TeamAddForm(),
        **extra,
    }


@shop_member_required()
@require_GET
def repair_order_detail(request, repair_order_id: int, *, membership: Membership):
    ro = _repair_order_or_404(membership, repair_order_id)
    context = _detail_context(membership, ro)
    template = f"{DETAIL_TEMPLATE}#panel" if request.htmx else DETAIL_TEMPLATE
    return render(request, template, context)


def _team_response(
    request, membership: Membership, repair_order_id: int, *, status: int = 200, notice: str = "", **extra
):
    """The team editor after a change, saying what was done (`notice`) or what was wrong."""
    if not request.htmx:
        if status == 200:
            if notice:
                messages.success(request, notice)
            return redirect(
                "repair_order_detail", shop_id=membership.shop_id, repair_order_id=repair_order_id
            )
        ro = _repair_order_or_404(membership, repair_order_id)
        return render(request, DETAIL_TEMPLATE, _detail_context(membership, ro, **extra), status=status)
    ro = _repair_order_or_404(membership, repair_order_id)
    context = _detail_context(membership, ro, team_notice=notice, **extra)
    return render(request, f"{DETAIL_TEMPLATE}#team", context, status=status)


@require_POST
@shop_member_required(EDIT_TEAM)
def repair_team_add(request, repair_order_id: int, *, membership: Membership):
    ro = _repair_order_or_404(membership, repair_order_id)
    form = TeamAddForm(request.POST)
    if not form.is_valid():
        return _team_response(request, membership, ro.id, status=422, add_form=form)
    data = form.cleaned_data
    try:
        services.repair_team_member_add(
            repair_order_id=ro.id,
            person_id=data["person_id"],
            external_id=data["external_id"],
            person_fields=data["person_fields"],
        )
    except services.TeamMemberConflict:
        form.add_error("person_id", "That person is not in this shop.")
        return _team_response(request, membership, ro.id, status=422, add_form=form)
    return _team_response(request, membership, ro.id, notice="Added to the team.")


@require_POST
@shop_member_required(EDIT_TEAM)
def repair_team_remove(request, repair_order_id: int, person_id: int, *, membership: Membership):
    ro = _repair_order_or_404(membership, repair_order_id)
    person = Person.objects.filter(shop_id=membership.shop_id, pk=person_id).first()
    services.repair_team_member_remove(repair_order_id=ro.id, person_id=person_id)
    notice = f"{person} was removed from the team." if person else ""
    return _team_response(request, membership, ro.id, notice=notice)


@require_POST
@shop_member_required(EDIT_TEAM)
def repair_team_person_update(request, repair_order_id: int, person_id: int, *, membership: Membership):
    ro = _repair_order_or_404(membership, repair_order_id)
    person = get_object_or_404(Person, shop_id=membership.shop_id, pk=person_id, team_links__repair_order=ro)
    form = PersonUpdateForm(request.POST)
    if not form.is_valid():
        return _team_response(request, membership, ro.id, status=422, person_errors={person_id: form.errors})
    services.person_update(
        shop_id=membership.shop_id, person_id=person_id, person_fields=form.cleaned_data["person_fields"]
    )
    return _team_response(request, membership, ro.id, notice=f"Title of {person} saved.")


# ---- Shop settings -----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@shop_member_required(EDIT_SETTINGS)
def shop_settings(request, *, membership: Membership):
    shop = membership.shop
    form = ShopSettingsForm(request.POST or None, instance=shop)
    if request.method == "POST":
        if form.is_valid():
            services.shop_settings_update(shop_id=shop.id, **form.cleaned_data)
            messages.success(request, "Settings saved.")
            return redirect("shop_settings", shop_id=shop.id)
        status = 422
    else:
        status = 200
    context = {"shop": shop, "membership": membership, "form": form}
    return render(request, "repairs/shop_settings.html", context, status=status)
