"""Every board write is CSRF-protected: a forged request changes nothing."""

import pytest
from django.middleware.csrf import get_token
from django.test import RequestFactory

from repairs.models import Person, RepairOrder, Shop
from tests.board.conftest import HTMX, signed_in


def _writes(ro):
    meriadoc = ro.team.get(external_id="4849843")
    return [
        (f"/shops/33/ros/{ro.id}/move/", {"stage_id": 7, "version": 1}),
        (f"/shops/33/ros/{ro.id}/team/", {"external_id": "E9", "first_name": "Daisy"}),
        (f"/shops/33/ros/{ro.id}/team/{meriadoc.id}/", {"title": "Owner"}),
        (f"/shops/33/ros/{ro.id}/team/{meriadoc.id}/remove/", {}),
        ("/shops/33/settings/", {"days_in_stage_amber": 1, "days_in_stage_red": 2, "time_zone": "UTC"}),
    ]


def _snapshot(ro):
    ro = RepairOrder.objects.get(pk=ro.pk)
    shop = Shop.objects.get(pk=33)
    return (
        ro.stage_id,
        ro.version,
        Person.objects.filter(shop_id=33).count(),
        sorted(ro.team.values_list("external_id", "title")),
        shop.days_in_stage_amber,
    )


@pytest.mark.parametrize("index", range(5))
def test_write_without_csrf_token_is_refused(manager, ro, index):
    path, data = _writes(ro)[index]
    before = _snapshot(ro)
    client = signed_in(manager, enforce_csrf_checks=True)
    response = client.post(path, data, headers=HTMX)
    assert response.status_code == 403
    assert _snapshot(ro) == before


@pytest.mark.parametrize("index", range(5))
def test_write_with_the_pages_csrf_header_goes_through(manager, ro, index):
    path, data = _writes(ro)[index]
    before = _snapshot(ro)
    client = signed_in(manager, enforce_csrf_checks=True)
    page = client.get("/shops/33/board/").content.decode()
    # The token the board puts in <body hx-headers>, which htmx sends as X-CSRFToken.
    token = page.split('hx-headers=\'{"X-CSRFToken": "')[1].split('"')[0]
    response = client.post(path, data, headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code in (200, 302)
    assert _snapshot(ro) != before


def test_a_token_of_another_session_is_refused(manager, ro):
    foreign_token = get_token(RequestFactory().get("/"))
    client = signed_in(manager, enforce_csrf_checks=True)
    client.get("/shops/33/board/")
    response = client.post(
        f"/shops/33/ros/{ro.id}/move/",
        {"stage_id": 7, "version": 1},
        headers={**HTMX, "X-CSRFToken": foreign_token},
    )
    assert response.status_code == 403
    assert RepairOrder.objects.get(pk=ro.pk).stage_id == 1
