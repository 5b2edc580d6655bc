"""Production settings pass Django's deployment checklist."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROD_ENV = {
    "PATH": os.environ["PATH"],
    "DJANGO_SETTINGS_MODULE": "shopboard.settings_production",
    "SECRET_KEY": "k" * 20 + "-production-secret-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "board.example.com",
    # The deploy checklist does not connect.
    "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused",
}


def run_manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "DEBUG", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("secret", ["", "short", "dev-only-insecure-key-do-not-use-in-production" + "x" * 10])
def test_production_settings_refuse_a_weak_secret_key(secret):
    result = run_manage("check", env={**PROD_ENV, "SECRET_KEY": secret})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
