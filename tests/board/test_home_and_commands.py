"""Sign-in, where `/` leads, the shop picker, and the create_member / seed_demo commands."""

import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from repairs.models import Membership
from tests import factories
from tests.board.conftest import signed_in


def test_sign_in_with_password_leads_to_the_board_of_the_only_shop(client, manager):
    response = client.post(
        "/accounts/login/", {"username": "manager", "password": factories.PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1] == ("/shops/33/board/", 302)
    assert "Baggins Body Shop" in response.content.decode()


def test_sign_in_page_renders_a_form(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in html and 'name="password"' in html and "csrfmiddlewaretoken" in html


def test_wrong_password_is_refused(client, manager):
    response = client.post("/accounts/login/", {"username": "manager", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_member_of_several_shops_gets_the_picker(manager, other_shop):
    factories.make_member(shop=other_shop, role="viewer", username="manager")
    manager.refresh_from_db()  # granting set the password again
    client = signed_in(manager)
    response = client.get("/")
    assert response["Location"] == "/shops/"
    html = client.get("/shops/").content.decode()
    assert 'href="/shops/33/board/"' in html and 'href="/shops/44/board/"' in html
    assert "Baggins Body Shop" in html and "Sackville Collision" in html


def test_user_of_no_shop_is_told_so(db):
    user = get_user_model().objects.create_user("nobody", password="x")
    client = signed_in(user)
    assert client.get("/")["Location"] == "/shops/"
    assert "not a member of any shop" in client.get("/shops/").content.decode()


def test_picker_lists_only_my_shops(viewer, outsider):
    html = signed_in(viewer).get("/shops/").content.decode()
    assert "Baggins Body Shop" in html
    assert "Sackville Collision" not in html


def test_sign_out_ends_the_session(manager):
    client = signed_in(manager)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/shops/33/board/").status_code == 302


def test_create_member_creates_the_user_with_a_role_and_password(shop):
    out = io.StringIO()
    call_command(
        "create_member",
        "anna",
        "--shop",
        "33",
        "--role",
        "estimator",
        "--password",
        "s3cret-pass",
        stdout=out,
    )
    assert "Created user anna: estimator of shop 33" in out.getvalue()
    user = authenticate(username="anna", password="s3cret-pass")
    assert user is not None
    assert Membership.objects.get(user=user, shop_id=33).role == "estimator"
    assert signed_in(user).get("/shops/33/board/").status_code == 200


def test_create_member_is_idempotent_and_changes_the_role(shop, other_shop):
    call_command(
        "create_member",
        "anna",
        "--shop",
        "33",
        "--role",
        "viewer",
        "--password",
        "pw-one-1",
        stdout=io.StringIO(),
    )
    out = io.StringIO()
    call_command(
        "create_member", "anna", "--shop", "33", "--role", "manager", "--password", "pw-one-1", stdout=out
    )
    call_command(
        "create_member",
        "anna",
        "--shop",
        "44",
        "--role",
        "viewer",
        "--password",
        "pw-one-1",
        stdout=io.StringIO(),
    )
    assert "Updated user anna" in out.getvalue()
    assert get_user_model().objects.filter(username="anna").count() == 1
    roles = dict(Membership.objects.filter(user__username="anna").values_list("shop_id", "role"))
    assert roles == {33: "manager", 44: "viewer"}


def test_create_member_without_password_prints_a_working_generated_one(shop):
    out = io.StringIO()
    call_command("create_member", "bob", "--shop", "33", "--role", "viewer", stdout=out)
    password = out.getvalue().split("Password: ")[1].strip()
    assert len(password) >= 12
    assert authenticate(username="bob", password=password) is not None


def test_create_member_again_without_password_keeps_the_users_password(shop, other_shop):
    call_command(
        "create_member",
        "anna",
        "--shop",
        "33",
        "--role",
        "viewer",
        "--password",
        "pw-one-1",
        stdout=io.StringIO(),
    )
    out = io.StringIO()
    call_command("create_member", "anna", "--shop", "44", "--role", "manager", stdout=out)
    assert "Password:" not in out.getvalue()
    assert authenticate(username="anna", password="pw-one-1") is not None
    assert Membership.objects.get(user__username="anna", shop_id=44).role == "manager"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["carl", "--shop", "99", "--role", "viewer"], "Shop 99 does not exist"),
        (["carl", "--shop", "33", "--role", "owner"], "invalid choice"),
    ],
)
def test_create_member_refuses_bad_input(shop, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_member", *args, "--password", "pw-x-12", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="carl").exists()


def test_seed_demo_prints_a_manager_an_estimator_and_a_viewer_login(db, settings, tmp_path):
    settings.DEMO_API_KEY_FILE = tmp_path / "demo-api-key"
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    for role in ("manager", "estimator", "viewer"):
        assert role in text
        user = authenticate(username=role, password="shopboard-demo")
        assert user is not None
        assert set(Membership.objects.filter(user=user).values_list("role", flat=True)) == {role}
