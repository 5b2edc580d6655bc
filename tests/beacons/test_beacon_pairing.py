"""A manager pairs a tag with an RO on its detail page (SPEC §6, §7)."""

import pytest
from django.test import Client

from integrations.beacons.services import beacon_tag_pair
from integrations.models import BeaconTag
from tests import factories


def pair_url(shop_id, ro_id):
    return f"/shops/{shop_id}/ros/{ro_id}/beacon/"


def test_manager_pairs_a_tag(client, shop, manager):
    ro = factories.make_repair_order(shop=shop)
    client.force_login(manager)
    response = client.post(pair_url(shop.id, ro.id), {"beacon_id": " TAG-0042 "})
    assert response.status_code == 302 and response.url == f"/shops/{shop.id}/ros/{ro.id}/"
    tag = BeaconTag.objects.get()
    assert (tag.shop_id, tag.beacon_id, tag.repair_order_id) == (shop.id, "TAG-0042", ro.id)
    assert tag.paired_at is not None


def test_pairing_moves_the_tag_and_replaces_the_ros_previous_tag(shop):
    first = factories.make_repair_order(shop=shop)
    second = factories.make_repair_order(shop=shop)
    beacon_tag_pair(shop_id=shop.id, repair_order_id=first.id, beacon_id="TAG-1")
    beacon_tag_pair(shop_id=shop.id, repair_order_id=second.id, beacon_id="TAG-2")
    # TAG-1 moves to the second car; its old TAG-2 is left unpaired.
    beacon_tag_pair(shop_id=shop.id, repair_order_id=second.id, beacon_id="TAG-1")
    assert dict(BeaconTag.objects.values_list("beacon_id", "repair_order_id")) == {
        "TAG-1": second.id,
        "TAG-2": None,
    }


def test_unpair(client, shop, manager):
    ro = factories.make_repair_order(shop=shop)
    beacon_tag_pair(shop_id=shop.id, repair_order_id=ro.id, beacon_id="TAG-1")
    client.force_login(manager)
    client.post(pair_url(shop.id, ro.id), {"beacon_id": "TAG-1", "action": "unpair"})
    assert BeaconTag.objects.get().repair_order_id is None


def test_htmx_pairing_answers_the_partial(client, shop, manager):
    ro = factories.make_repair_order(shop=shop)
    client.force_login(manager)
    response = client.post(pair_url(shop.id, ro.id), {"beacon_id": "TAG-<7>"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="beacon-pair-{ro.id}"' in html and "TAG-&lt;7&gt;" in html and "TAG-<7>" not in html


def test_too_long_beacon_id_is_refused(client, shop, manager):
    ro = factories.make_repair_order(shop=shop)
    client.force_login(manager)
    response = client.post(pair_url(shop.id, ro.id), {"beacon_id": "T" * 101})
    assert response.status_code == 422
    assert not BeaconTag.objects.exists()


@pytest.mark.parametrize("who, status", [("viewer", 403), ("estimator", 403), ("outsider", 404)])
def test_only_a_manager_of_the_shop_pairs(client, shop, request, who, status):
    ro = factories.make_repair_order(shop=shop)
    client.force_login(request.getfixturevalue(who))
    assert client.post(pair_url(shop.id, ro.id), {"beacon_id": "TAG-1"}).status_code == status
    assert not BeaconTag.objects.exists()


def test_ro_of_another_shop_is_404(client, shop, other_shop, manager):
    theirs = factories.make_repair_order(shop=other_shop)
    client.force_login(manager)
    assert client.post(pair_url(shop.id, theirs.id), {"beacon_id": "TAG-1"}).status_code == 404
    assert not BeaconTag.objects.exists()


def test_pairing_needs_csrf(shop, manager):
    ro = factories.make_repair_order(shop=shop)
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(manager)
    assert csrf_client.post(pair_url(shop.id, ro.id), {"beacon_id": "TAG-1"}).status_code == 403
    assert not BeaconTag.objects.exists()


def test_pair_partial_shows_the_form_to_managers_only(rf, shop):
    from django.template.loader import render_to_string

    ro = factories.make_repair_order(shop=shop)
    tag = beacon_tag_pair(shop_id=shop.id, repair_order_id=ro.id, beacon_id="TAG-9")
    context = {"shop_id": shop.id, "repair_order": ro, "beacon_tag": tag}
    as_manager = render_to_string(
        "integrations/beacon_pair.html", {**context, "can_pair_beacon": True}, rf.get("/")
    )
    as_viewer = render_to_string(
        "integrations/beacon_pair.html", {**context, "can_pair_beacon": False}, rf.get("/")
    )
    assert "TAG-9" in as_viewer and "<form" not in as_viewer
    assert pair_url(shop.id, ro.id) in as_manager and "csrfmiddlewaretoken" in as_manager
