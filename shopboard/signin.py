"""Sign-in throttling: django-axes, told how Shopboard runs.

After SIGNIN_FAILURE_LIMIT failed sign-ins for one username, or from one
client address, within SIGNIN_LOCKOUT_MINUTES, that username and that
address are locked for SIGNIN_LOCKOUT_MINUTES from the failure that locked
them — even the right password is refused meanwhile. The count lives in the
database (axes' AccessAttempt table), so every web process shares it and a
Redis outage does not lift it. The board's sign-in page and the admin's
both say how long to wait (429), and each refusal is logged.

A locked-out manager gets back in after the window, or at once when an
operator runs `manage.py axes_reset_username USERNAME` (or
`axes_reset_ip ADDRESS`, `axes_reset` for everyone); see docs/operations.md.

Why django-axes rather than our own counter: it hooks Django's
`authenticate`, so the admin login and the board's are covered alike, it
ships those reset commands and an admin page of attempts, and it is kept
up to date for new Django versions.
"""

import ipaddress
import logging
import math
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_ip_address, get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

logger = logging.getLogger(__name__)


class SignInThrottleBackend(AxesStandaloneBackend):
    """axes' lockout check for sign-ins over HTTP.

    `authenticate()` without a request is not a sign-in attempt from a
    client (a management command, the shell, a test): it is not counted and
    not refused, where axes would raise.
    """

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind SIGNIN_TRUSTED_PROXIES proxies the address
    the farthest of them saw in X-Forwarded-For (what a client writes there itself is never used)."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.SIGNIN_TRUSTED_PROXIES
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if hops <= 0 or len(forwarded) < hops:
        return remote
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _minutes_left(request: HttpRequest, credentials: dict | None) -> int:
    """Until the latest lock on this username or address ends, rounded up."""
    cool_off = get_cool_off(request) or timedelta(0)
    limit = get_failure_limit(request, credentials)
    since = timezone.now() - cool_off
    ends = []
    for filters in (
        {"username": get_client_username(request, credentials)},
        {"ip_address": client_ip(request)},
    ):
        attempts = AccessAttempt.objects.filter(attempt_time__gte=since, **filters).aggregate(
            failures=Sum("failures_since_start"), last=Max("attempt_time")
        )
        if (attempts["failures"] or 0) >= limit:
            ends.append(attempts["last"] + cool_off)
    seconds = (max(ends) - timezone.now()).total_seconds() if ends else cool_off.total_seconds()
    return max(1, math.ceil(seconds / 60))


def lockout_message(minutes: int) -> str:
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"Too many failed sign-ins for this account or from this address. "
        f"Try again in {minutes} {unit}, or ask your administrator to unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response=None, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the sign-in page again, saying how long to wait (429)."""
    username = get_client_username(request, credentials) or ""
    minutes = _minutes_left(request, credentials)
    message = lockout_message(minutes)
    logger.warning(
        "Sign-in refused: locked for %d more minute(s) (username=%r, ip=%s, path=%s)",
        minutes, username[:150], get_client_ip_address(request), request.path,
    )  # fmt: skip
    redirect_to = request.POST.get(REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME, ""))
    if request.path == reverse("admin:login"):
        context = {
            **admin.site.each_context(request),
            "title": "Log in",
            "app_path": request.get_full_path(),
            "form": _form_with_error(AdminAuthenticationForm, request, username, message),
            REDIRECT_FIELD_NAME: redirect_to,
        }
        return render(request, "admin/login.html", context, status=429)
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "locked_out": message,
        REDIRECT_FIELD_NAME: redirect_to,
    }
    return render(request, "registration/login.html", context, status=429)


def _form_with_error(form_class, request: HttpRequest, username: str, message: str):
    """A bound sign-in form whose only error is the lock (it does not authenticate again)."""

    class LockedOutForm(form_class):
        def clean(self):
            raise ValidationError(message, code="locked_out")

    form = LockedOutForm(request, data={"username": username[:150], "password": "-"})
    form.is_valid()
    return form
