"""Who may do what in a shop: the one place board permissions are checked.

A user who is not a member of a shop gets 404 for anything of that shop, so
another shop's existence is never revealed (SPEC §7). A member whose role is
too low for an action gets 403.
"""

from collections.abc import Callable
from functools import wraps
from inspect import iscoroutinefunction

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from .models import Membership
from .selectors import membership_get

# What each action needs; the role names are SPEC §7's.
MOVE = "move"
EDIT_TEAM = "edit_team"
EDIT_SETTINGS = "edit_settings"
RESEND_OBS = "resend_obs"
PAIR_BEACON = "pair_beacon"
VIEW = "view"

ALLOWED_ROLES: dict[str, frozenset[str]] = {
    VIEW: frozenset({Membership.Role.MANAGER, Membership.Role.ESTIMATOR, Membership.Role.VIEWER}),
    EDIT_TEAM: frozenset({Membership.Role.MANAGER, Membership.Role.ESTIMATOR}),
    MOVE: frozenset({Membership.Role.MANAGER}),
    EDIT_SETTINGS: frozenset({Membership.Role.MANAGER}),
    RESEND_OBS: frozenset({Membership.Role.MANAGER}),
    PAIR_BEACON: frozenset({Membership.Role.MANAGER}),
}


def membership_require(*, user, shop_id: int, action: str = VIEW) -> Membership:
    """The user's membership of the shop, or Http404 (not a member) / PermissionDenied (role too low)."""
    membership = membership_get(user=user, shop_id=shop_id)
    if membership is None:
        raise Http404("No such shop.")
    if membership.role not in ALLOWED_ROLES[action]:
        raise PermissionDenied(f"A {membership.role} may not {action.replace('_', ' ')} in this shop.")
    return membership


def membership_can(membership: Membership, action: str) -> bool:
    return membership.role in ALLOWED_ROLES[action]


def shop_member_required(action: str = VIEW) -> Callable:
    """View decorator: resolves `shop_id` to the caller's Membership (passed as `membership`).

    Anonymous callers are sent to the sign-in page; the check runs before the
    view touches anything of the shop. An async view (the board's event
    stream, served by the ASGI server) gets the same check, awaited.
    """

    def decorator(view):
        if iscoroutinefunction(view):

            @wraps(view)
            async def async_wrapper(request: HttpRequest, shop_id: int, *args, **kwargs):
                user = await request.auser()
                if not user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                membership = await sync_to_async(membership_require)(
                    user=user, shop_id=shop_id, action=action
                )
                return await view(request, *args, membership=membership, **kwargs)

            return async_wrapper

        @wraps(view)
        def wrapper(request: HttpRequest, shop_id: int, *args, **kwargs):
            if not request.user.is_authenticated:
                if getattr(request, "htmx", False):
                    # A poll after the session ended: reload the whole page
                    # into the sign-in form rather than swap it into the board.
                    return HttpResponseClientRedirect(resolve_url(settings.LOGIN_URL))
                return redirect_to_login(request.get_full_path())
            membership = membership_require(user=request.user, shop_id=shop_id, action=action)
            return view(request, *args, membership=membership, **kwargs)

        return wrapper

    return decorator
