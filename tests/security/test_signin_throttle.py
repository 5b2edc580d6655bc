"""Sign-in throttling (issue 14, defect 6), browser-free: failures lock the
username and the address, even the right password is refused meanwhile, the
page says how long, the admin login alike; other accounts and addresses go
on; the lock ends after its window or with axes_reset_username."""

import logging
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests import factories

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
HOME = "/a-page-that-asks-for-login/"


@pytest.fixture(autouse=True)
def _three_failures_lock_for_fifteen_minutes(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def sign_in(client, username, password, ip="10.0.0.1", url=LOGIN):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username, times=3, ip="10.0.0.1", url=LOGIN):
    return [sign_in(client, username, "wrong-password", ip, url).status_code for _ in range(times)]


def test_failures_lock_the_account_and_even_the_right_password_is_refused(client, manager, caplog):
    assert fail(client, "manager", times=2) == [200, 200]  # "didn't match", the form again
    with caplog.at_level(logging.WARNING):
        locked = sign_in(client, "manager", "wrong-password")
        right = sign_in(client, "manager", factories.PASSWORD)
    for response in (locked, right):
        assert response.status_code == 429
        html = response.content.decode()
        assert "Too many failed sign-ins" in html and "Try again in 15 minutes" in html
        assert 'name="username"' in html and 'value="manager"' in html  # still the sign-in page
    assert not signed_in(client)
    assert any(
        "Sign-in refused: locked" in r.getMessage() and "manager" in r.getMessage() for r in caplog.records
    )


def test_the_right_password_works_again_after_the_window(client, manager, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    fail(client, "manager")
    assert sign_in(client, "manager", factories.PASSWORD).status_code == 429
    time.sleep(2.2)
    response = sign_in(client, "manager", factories.PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_the_admin_login_is_throttled_too(client, db):
    get_user_model().objects.create_superuser("root", "root@example.com", factories.PASSWORD)
    assert fail(client, "root", times=2, url=ADMIN_LOGIN) == [200, 200]
    locked = sign_in(client, "root", "wrong-password", url=ADMIN_LOGIN)
    right = sign_in(client, "root", factories.PASSWORD, url=ADMIN_LOGIN)
    for response in (locked, right):
        assert response.status_code == 429
        html = response.content.decode()
        assert 'class="errornote"' in html and "Try again in 15 minutes" in html
    assert not signed_in(client)


def test_a_lock_is_per_username_and_per_address(client, manager, estimator):
    fail(client, "manager", ip="10.0.0.1")
    # Another account from another address is not affected...
    assert sign_in(client, "estimator", factories.PASSWORD, ip="10.0.0.2").status_code == 302
    client.logout()
    # ...but the locked account is, from anywhere, and so is the address, for anyone.
    assert sign_in(client, "manager", factories.PASSWORD, ip="10.0.0.2").status_code == 429
    assert sign_in(client, "estimator", factories.PASSWORD, ip="10.0.0.1").status_code == 429


def test_failures_spread_over_accounts_lock_the_address(client, manager, estimator, viewer):
    for username in ("viewer", "estimator", "nobody"):
        sign_in(client, username, "wrong-password", ip="10.0.0.9")
    assert sign_in(client, "manager", factories.PASSWORD, ip="10.0.0.9").status_code == 429
    assert sign_in(client, "manager", factories.PASSWORD, ip="10.0.0.10").status_code == 302


def test_axes_reset_username_lets_a_locked_out_manager_back_in_at_once(client, manager):
    fail(client, "manager")
    assert sign_in(client, "manager", factories.PASSWORD).status_code == 429
    call_command("axes_reset_username", "manager")
    # The failures were this username's, so their address is free again too.
    assert sign_in(client, "manager", factories.PASSWORD).status_code == 302
    assert signed_in(client)


def test_a_success_clears_the_count(client, manager):
    fail(client, "manager", times=2)
    assert sign_in(client, "manager", factories.PASSWORD).status_code == 302
    client.logout()
    assert fail(client, "manager", times=2) == [200, 200]  # counting starts again


def test_behind_the_proxy_the_forwarded_address_is_the_one_counted(client, manager, estimator, settings):
    settings.SIGNIN_TRUSTED_PROXIES = 1
    proxy = "10.9.9.9"

    def via_proxy(username, password, forwarded_for):
        return client.post(
            LOGIN, {"username": username, "password": password}, REMOTE_ADDR=proxy,
            headers={"X-Forwarded-For": forwarded_for},
        )  # fmt: skip

    # An attacker writes its own X-Forwarded-For; the proxy appends the real address.
    for spoofed in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        via_proxy("manager", "wrong-password", f"{spoofed}, 203.0.113.7")
    assert via_proxy("estimator", factories.PASSWORD, "203.0.113.7").status_code == 429
    # Everyone else behind the same proxy signs in.
    assert via_proxy("estimator", factories.PASSWORD, "198.51.100.4").status_code == 302


def test_authenticate_without_a_request_is_neither_counted_nor_refused(manager):
    from django.contrib.auth import authenticate

    for _ in range(5):
        assert authenticate(username="manager", password="wrong-password") is None
    assert authenticate(username="manager", password=factories.PASSWORD) == manager


def test_the_passwords_tried_are_not_stored(client, manager):
    from axes.models import AccessAttempt

    sign_in(client, "manager", "my-secret-guess")
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "manager" and attempt.failures_since_start == 1
    stored = " ".join(str(value) for value in AccessAttempt.objects.values().get().values())
    assert "my-secret-guess" not in stored
