"""The sign-in lockout as a person sees it (issue 14, defect 6)."""

from datetime import timedelta

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_locked_out_manager_is_told_how_long_to_wait(
    page, live_server, manager, settings, artifacts, page_errors
):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    for _ in range(3):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill("manager")
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "Too many failed sign-ins" in alert.inner_text() and "15 minutes" in alert.inner_text()
    assert page.get_by_label("Username").input_value() == "manager"
    page.screenshot(path=str(artifacts / "signin-locked-out.png"), full_page=True)
    assert page_errors == []
