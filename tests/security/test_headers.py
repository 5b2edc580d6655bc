"""Security headers on pages and API answers; HSTS under production settings."""

import os
import subprocess
import sys
from pathlib import Path

from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def csp_of(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in policy.split(";")) if d}


def test_board_pages_forbid_inline_script_framing_and_sniffing(manager, shop):
    client = Client()
    client.force_login(manager)
    for path in ("/accounts/login/", f"/shops/{shop.id}/board/"):
        response = client.get(path)
        csp = csp_of(response)
        assert csp["script-src"] == ["'self'"], path
        assert "'unsafe-inline'" not in csp["style-src"] and "'unsafe-eval'" not in csp["script-src"]
        assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"


def test_pages_carry_no_inline_script(manager, shop):
    client = Client()
    client.force_login(manager)
    html = client.get(f"/shops/{shop.id}/board/").content.decode()
    scripts = html.split("<script")[1:]
    assert scripts and all(s.split(">")[0].strip().startswith("src=") for s in scripts)
    assert " onclick=" not in html and "javascript:" not in html


def test_api_answers_carry_the_security_headers(api, shop):
    response = api.get("/api/v1/stages")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "X-Request-ID" in response


def test_production_settings_send_hsts_and_secure_cookies(tmp_path):
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/accounts/login/', secure=True, headers={'host': 'board.example.com'})\n"
        "print(r.status_code); print(r['Strict-Transport-Security']); print(r.cookies['csrftoken']['secure'])\n"
        "print(Client().get('/accounts/login/', headers={'host': 'board.example.com'}).status_code)\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "shopboard.settings_production",
        "SECRET_KEY": "p" * 60,
        "ALLOWED_HOSTS": "board.example.com",
        # Never connected to: the requests below read no data.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    # Production serves hashed, compressed static files: collect them first,
    # as a deployment does (this also proves the pipeline works).
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stderr
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    status, hsts, secure_cookie, plain_status = out.stdout.split("\n")[:4]
    assert status == "200"
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert secure_cookie == "True"
    assert plain_status == "301"  # plain HTTP is redirected to HTTPS
