"""Webhooks on the Standard Webhooks spec (SPEC §9; docs/webhooks.md).

events      the event catalogue
models      endpoints, the outbox of messages, attempts
secrets     making, encrypting and decrypting endpoint secrets
signing     Standard Webhooks signatures
transport   the guarded HTTP client (https, public addresses, no redirects)
outbox      repairs' signals → messages, in the writer's transaction
services    endpoints, recording, delivery per lane, re-send, the sweep
schedule    the retry backoff (OBS's schedule, webhook parameters, jitter)
queue       publishing a delivery task after the commit
tasks       Celery tasks
selectors   reads for the API, the settings page and the board
api         the ninja router (/api/v1/shops/{shop_id}/webhook-endpoints)
views       the settings page section and the DEBUG-only demo receiver
"""
