"""Signatures as a receiver checks them with the reference `standardwebhooks`
package, and secrets kept out of the database in clear."""

import base64
import time

import pytest
from django.db import connection
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from integrations.webhooks.models import WebhookEndpoint
from integrations.webhooks.secrets import SecretUnreadable, secret_decrypt, secret_new
from integrations.webhooks.services import endpoint_create
from integrations.webhooks.signing import signed_headers

BODY = '{"type":"repair_order.created","timestamp":"2026-12-01T10:00:00Z","data":{"version":1}}'


def test_a_new_secret_is_whsec_and_base64_of_32_random_bytes():
    secret = secret_new()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret_new() != secret


def test_the_reference_verifier_accepts_our_signature_and_rejects_a_changed_body():
    secret = secret_new()
    headers = signed_headers(secrets=[secret], webhook_id="msg_1", timestamp=int(time.time()), body=BODY)
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "repair_order.created",
        "timestamp": "2026-12-01T10:00:00Z",
        "data": {"version": 1},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("1}", "2}"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_new()).verify(BODY, headers)


def test_with_two_secrets_either_verifies():
    new, old = secret_new(), secret_new()
    headers = signed_headers(secrets=[new, old], webhook_id="msg_2", timestamp=int(time.time()), body=BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(sig.startswith("v1,") for sig in headers["webhook-signature"].split(" "))
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)


@pytest.mark.django_db
def test_the_secret_is_stored_encrypted_and_needs_the_environment_key(shop, settings):
    endpoint, secret = endpoint_create(shop_id=shop.id, url="https://hooks.example.com/in", events=["*"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM integrations_webhookendpoint WHERE id = %s", [endpoint.id])
        row = " ".join(str(value) for value in cursor.fetchone())
    raw = secret.removeprefix("whsec_")
    assert raw not in row and secret not in row
    stored = WebhookEndpoint.objects.get(pk=endpoint.id).secret_encrypted
    assert secret_decrypt(stored) == secret
    settings.WEBHOOKS_SECRET_KEY = "another key"
    with pytest.raises(SecretUnreadable):
        secret_decrypt(stored)
