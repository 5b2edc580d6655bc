"""RO detail (every field, stage history) and the repair team editor."""

import pytest

from repairs import services
from repairs.models import Person, RepairOrder, RepairTeamMember
from tests import factories
from tests.board.conftest import HTMX, signed_in


def _team(ro):
    return list(
        RepairTeamMember.objects.filter(repair_order=ro)
        .order_by("position")
        .values_list("person__external_id", "person__title")
    )


def test_detail_shows_every_field_and_the_stage_history(viewer, manager, ro):
    ro.vehicle_vin = "1GCEK19T5YE123456"
    ro.vehicle_license_plate = "HOBBIT1"
    ro.customer_email = "bilbo@example.com"
    ro.customer_phone_number = "5553337777"
    ro.obs_event_id = "783A61C0-DDAA-4B11-A758475C419B5927"
    ro.save()
    services.repair_order_move(repair_order_id=ro.id, stage_id=7, source="board", user=manager)
    services.repair_order_move(repair_order_id=ro.id, stage_id=9, source="beacon")
    html = signed_in(viewer).get(f"/shops/33/ros/{ro.id}/").content.decode()
    for text in [
        "606471",
        "Chevrolet",
        "Silverado",
        "Red",
        "1GCEK19T5YE123456",
        "HOBBIT1",
        "Bilbo",
        "Baggins",
        "bilbo@example.com",
        "5553337777",
        "State Farm",
        "783A61C0-DDAA-4B11-A758475C419B5927",
        "48.5 h",
        "Meriadoc Brandybuck",
        "Estimator",
        "REFINISH",
        "Version</dt><dd>3",
    ]:
        assert text in html, text
    rows = html.split('<table class="history">')[1].split("</table>")[0].split("<tr>")[2:]
    assert "BODY" in rows[0] and "REFINISH" in rows[0] and "Beacon" in rows[0]
    assert "SCHEDULED IN" in rows[1] and "BODY" in rows[1] and "manager" in rows[1] and "Board" in rows[1]
    assert "OBS deliveries" in html


def test_detail_fragment_for_the_side_panel(viewer, ro):
    html = signed_in(viewer).get(f"/shops/33/ros/{ro.id}/", headers=HTMX).content.decode()
    assert html.lstrip().startswith('<article class="detail"')
    assert "<html" not in html


def test_viewer_sees_the_team_read_only(viewer, ro):
    html = signed_in(viewer).get(f"/shops/33/ros/{ro.id}/").content.decode()
    assert "Meriadoc Brandybuck" in html
    assert "team-add" not in html and "Remove" not in html and 'name="title"' not in html


@pytest.mark.parametrize("role", ["manager", "estimator"])
def test_editors_get_the_team_editor(actors, ro, role):
    html = signed_in(actors[role]).get(f"/shops/33/ros/{ro.id}/").content.decode()
    assert 'class="team-add"' in html and "Remove" in html and 'name="title"' in html


def test_add_an_existing_person_of_the_shop(estimator, ro, shop):
    daisy = factories.make_person(
        shop=shop, external_id="D1", first_name="Daisy", last_name="Boffin", title="Painter"
    )
    response = signed_in(estimator).post(
        f"/shops/33/ros/{ro.id}/team/", {"person_id": daisy.id}, headers=HTMX
    )
    assert response.status_code == 200
    assert _team(ro) == [("4849843", "Estimator"), ("4849844", "Body Technician"), ("D1", "Painter")]
    assert RepairOrder.objects.get(pk=ro.pk).version == 2
    assert "Daisy Boffin" in response.content.decode()
    assert response.content.decode().lstrip().startswith('<section id="team"')


def test_add_a_new_person_creates_them_in_the_shop(estimator, ro):
    response = signed_in(estimator).post(
        f"/shops/33/ros/{ro.id}/team/",
        {"external_id": " 777 ", "first_name": "Ponto", "last_name": "Proudfoot", "title": "Mechanic"},
        headers=HTMX,
    )
    assert response.status_code == 200
    ponto = Person.objects.get(shop_id=33, external_id="777")
    assert (ponto.first_name, ponto.last_name, ponto.title) == ("Ponto", "Proudfoot", "Mechanic")
    assert _team(ro)[-1] == ("777", "Mechanic")


def test_adding_a_known_employee_id_updates_that_person_everywhere(estimator, ro, shop):
    other = factories.make_repair_order(shop=shop, repair_number="OTHER")
    meriadoc = Person.objects.get(external_id="4849843")
    factories.add_to_team(other, meriadoc)
    signed_in(estimator).post(
        f"/shops/33/ros/{other.id}/team/",
        {
            "external_id": "4849843",
            "first_name": "Merry",
            "last_name": "Brandybuck",
            "title": "Lead Estimator",
        },
        headers=HTMX,
    )
    assert Person.objects.filter(external_id="4849843").count() == 1
    assert _team(ro)[0] == ("4849843", "Lead Estimator")
    # Both ROs show the new name, so both changed.
    assert RepairOrder.objects.get(pk=ro.pk).version == 2
    assert RepairOrder.objects.get(pk=other.pk).version == 2


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "Pick a person or give the new person&#x27;s employee id."),
        ({"external_id": "   "}, "Pick a person or give the new person&#x27;s employee id."),
        ({"external_id": "x" * 51}, "Employee id: Ensure this value has at most 50 characters"),
        ({"external_id": "E1", "title": "t" * 101}, "Title: Ensure this value has at most 100 characters"),
        ({"person_id": "abc"}, "Enter a whole number."),
    ],
)
def test_invalid_team_additions_answer_422_with_the_reason(estimator, ro, data, error):
    response = signed_in(estimator).post(f"/shops/33/ros/{ro.id}/team/", data, headers=HTMX)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert len(_team(ro)) == 2
    assert RepairOrder.objects.get(pk=ro.pk).version == 1


def test_remove_a_member_keeps_the_person_in_the_shop(estimator, ro):
    hamfast = Person.objects.get(external_id="4849844")
    response = signed_in(estimator).post(f"/shops/33/ros/{ro.id}/team/{hamfast.id}/remove/", headers=HTMX)
    assert response.status_code == 200
    assert _team(ro) == [("4849843", "Estimator")]
    assert Person.objects.filter(pk=hamfast.pk).exists()
    assert RepairOrder.objects.get(pk=ro.pk).version == 2
    # The freed person is offered again in the picker.
    assert f'<option value="{hamfast.id}">' in response.content.decode()


def test_change_a_title_bumps_every_ro_of_that_person(estimator, ro, shop):
    other = factories.make_repair_order(shop=shop, repair_number="OTHER")
    meriadoc = Person.objects.get(external_id="4849843")
    factories.add_to_team(other, meriadoc)
    before = RepairOrder.objects.get(pk=ro.pk).updated_at
    response = signed_in(estimator).post(
        f"/shops/33/ros/{ro.id}/team/{meriadoc.id}/",
        {"first_name": "Meriadoc", "last_name": "Brandybuck", "title": "Shop Foreman"},
        headers=HTMX,
    )
    assert response.status_code == 200
    meriadoc.refresh_from_db()
    assert (meriadoc.first_name, meriadoc.title) == ("Meriadoc", "Shop Foreman")
    fresh = RepairOrder.objects.get(pk=ro.pk)
    assert (fresh.version, fresh.updated_at > before) == (2, True)
    assert RepairOrder.objects.get(pk=other.pk).version == 2


def test_team_edit_without_htmx_redirects_to_the_detail_page(estimator, ro):
    hamfast = Person.objects.get(external_id="4849844")
    response = signed_in(estimator).post(f"/shops/33/ros/{ro.id}/team/{hamfast.id}/remove/")
    assert response.status_code == 302
    assert response["Location"] == f"/shops/33/ros/{ro.id}/"


def test_removing_someone_not_on_the_team_changes_nothing(estimator, ro, shop):
    stranger = factories.make_person(shop=shop, external_id="S1")
    signed_in(estimator).post(f"/shops/33/ros/{ro.id}/team/{stranger.id}/remove/", headers=HTMX)
    assert RepairOrder.objects.get(pk=ro.pk).version == 1
    assert len(_team(ro)) == 2


def test_shop_settings_save_the_thresholds(manager, shop):
    client = signed_in(manager)
    assert 'value="3"' in client.get("/shops/33/settings/").content.decode()
    response = client.post(
        "/shops/33/settings/",
        {"days_in_stage_amber": 2, "days_in_stage_red": 4, "time_zone": "UTC"},
        follow=True,
    )
    assert "Settings saved." in response.content.decode()
    shop.refresh_from_db()
    assert (shop.days_in_stage_amber, shop.days_in_stage_red) == (2, 4)


@pytest.mark.parametrize(
    ("amber", "red", "error"),
    [
        (5, 5, "Must be more days than amber."),
        (6, 2, "Must be more days than amber."),
        (0, 3, "At least 1 day."),
        ("", 3, "This field is required."),
        (2, -1, "At least 1 day."),
        # The inputs say max 365: a typo of eleven digits is refused, not saved.
        (99999999999, 400, "At most 365 days."),
        (3, 366, "At most 365 days."),
    ],
)
def test_shop_settings_refuse_bad_thresholds(manager, shop, amber, red, error):
    response = signed_in(manager).post(
        "/shops/33/settings/", {"days_in_stage_amber": amber, "days_in_stage_red": red, "time_zone": "UTC"}
    )
    assert response.status_code == 422
    assert error in response.content.decode()
    shop.refresh_from_db()
    assert (shop.days_in_stage_amber, shop.days_in_stage_red) == (3, 7)


def test_settings_service_refuses_thresholds_out_of_order(shop):
    with pytest.raises(ValueError):
        services.shop_settings_update(shop_id=shop.id, days_in_stage_amber=4, days_in_stage_red=4)
