"""Who may do what, per shop: members by role (200/403), everyone else 404 (SPEC §7)."""

import pytest

from repairs.models import Person, RepairOrder, Shop, StageChange
from tests.board.conftest import HTMX, signed_in


def _move(client, ro):
    return client.post(f"/shops/33/ros/{ro.id}/move/", {"stage_id": 7, "version": ro.version}, headers=HTMX)


def _team_add(client, ro):
    return client.post(
        f"/shops/33/ros/{ro.id}/team/",
        {"external_id": "E-NEW", "first_name": "Daisy", "last_name": "Boffin", "title": "Painter"},
        headers=HTMX,
    )


def _team_remove(client, ro):
    person = ro.team.get(external_id="4849844")
    return client.post(f"/shops/33/ros/{ro.id}/team/{person.id}/remove/", headers=HTMX)


def _title_change(client, ro):
    person = ro.team.get(external_id="4849843")
    return client.post(
        f"/shops/33/ros/{ro.id}/team/{person.id}/",
        {"first_name": "Meriadoc", "last_name": "Brandybuck", "title": "Lead Estimator"},
        headers=HTMX,
    )


def _settings_save(client, ro):
    return client.post(
        "/shops/33/settings/", {"days_in_stage_amber": 2, "days_in_stage_red": 5, "time_zone": "UTC"}
    )


def _state(ro):
    ro = RepairOrder.objects.get(pk=ro.pk)
    shop = Shop.objects.get(pk=33)
    return (
        ro.stage_id,
        ro.version,
        sorted(ro.team.values_list("external_id", "title")),
        Person.objects.filter(external_id="E-NEW").exists(),
        StageChange.objects.count(),
        (shop.days_in_stage_amber, shop.days_in_stage_red),
    )


WRITES = {
    "move": _move,
    "team_add": _team_add,
    "team_remove": _team_remove,
    "title_change": _title_change,
    "settings": _settings_save,
}

# action, role -> status. Outsiders (members of another shop) get 404 everywhere.
MATRIX = [
    ("move", "manager", 200),
    ("move", "estimator", 403),
    ("move", "viewer", 403),
    ("move", "outsider", 404),
    ("team_add", "manager", 200),
    ("team_add", "estimator", 200),
    ("team_add", "viewer", 403),
    ("team_add", "outsider", 404),
    ("team_remove", "manager", 200),
    ("team_remove", "estimator", 200),
    ("team_remove", "viewer", 403),
    ("team_remove", "outsider", 404),
    ("title_change", "manager", 200),
    ("title_change", "estimator", 200),
    ("title_change", "viewer", 403),
    ("title_change", "outsider", 404),
    ("settings", "manager", 302),
    ("settings", "estimator", 403),
    ("settings", "viewer", 403),
    ("settings", "outsider", 404),
]


@pytest.mark.parametrize(("action", "role", "status"), MATRIX)
def test_write_permissions_by_role(actors, ro, action, role, status):
    before = _state(ro)
    response = WRITES[action](signed_in(actors[role]), ro)
    assert response.status_code == status
    changed = _state(ro) != before
    assert changed == (status in (200, 302)), f"{role} {action}: state changed={changed}"


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/shops/33/board/", "manager", 200),
        ("/shops/33/board/", "estimator", 200),
        ("/shops/33/board/", "viewer", 200),
        ("/shops/33/board/", "outsider", 404),
        ("/shops/33/ros/{ro}/", "viewer", 200),
        ("/shops/33/ros/{ro}/", "outsider", 404),
        ("/shops/33/settings/", "manager", 200),
        ("/shops/33/settings/", "estimator", 403),
        ("/shops/33/settings/", "viewer", 403),
        ("/shops/33/settings/", "outsider", 404),
        ("/shops/9999/board/", "manager", 404),
    ],
)
def test_page_permissions_by_role(actors, ro, path, role, status):
    response = signed_in(actors[role]).get(path.format(ro=ro.id))
    assert response.status_code == status


def test_another_shops_ro_is_404_through_my_shop(manager, ro, other_ro):
    client = signed_in(manager)
    assert client.get(f"/shops/33/ros/{other_ro.id}/").status_code == 404
    response = client.post(f"/shops/33/ros/{other_ro.id}/move/", {"stage_id": 5, "version": 1}, headers=HTMX)
    assert response.status_code == 404
    other_ro.refresh_from_db()
    assert other_ro.stage_id == 1


def test_person_of_another_ro_cannot_be_retitled_through_this_ro(manager, ro, shop):
    from tests.factories import make_person

    stranger = make_person(shop=shop, external_id="X1", title="Painter")
    response = signed_in(manager).post(
        f"/shops/33/ros/{ro.id}/team/{stranger.id}/", {"title": "Owner"}, headers=HTMX
    )
    assert response.status_code == 404
    stranger.refresh_from_db()
    assert stranger.title == "Painter"


def test_adding_a_person_of_another_shop_is_refused(manager, ro, other_shop):
    from tests.factories import make_person

    foreign = make_person(shop=other_shop, external_id="F1")
    response = signed_in(manager).post(
        f"/shops/33/ros/{ro.id}/team/", {"person_id": foreign.id}, headers=HTMX
    )
    assert response.status_code == 422
    assert not ro.team.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize("path", ["/", "/shops/", "/shops/33/board/", "/shops/33/settings/"])
def test_anonymous_visitors_are_sent_to_sign_in(client, shop, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_anonymous_poll_asks_htmx_to_reload_into_sign_in(client, shop):
    response = client.get("/shops/33/board/", headers={"HX-Request": "true", "HX-Target": "board"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/"


def test_moving_via_get_is_not_allowed(manager, ro):
    response = signed_in(manager).get(f"/shops/33/ros/{ro.id}/move/")
    assert response.status_code == 405


def test_error_pages_explain_themselves(settings, viewer, outsider, ro):
    settings.DEBUG = False
    assert "Not allowed" in signed_in(viewer).get("/shops/33/settings/").content.decode()
    assert (
        "belongs to a shop you are not a member of"
        in signed_in(outsider).get("/shops/33/board/").content.decode()
    )
