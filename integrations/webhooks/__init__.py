"""Webhooks on the Standard Webhooks spec (SPEC §9; docs/webhooks.md).

events      the event catalogue
models      endpoints; WebhookMessage, the webhooks' view of the one outbox
secrets     making, encrypting and decrypting endpoint secrets
signing     Standard Webhooks signatures
transport   the guarded HTTP client (https, public addresses, no redirects)
outbox      repairs' signals → messages, in the writer's transaction
services    endpoints, recording, the engine's deliver and re-sends
adapter     what is the webhooks' own in the one delivery engine: in-order
            lanes, signing per attempt, the guarded transport, 410 and the
            5-day disable, re-send rule
schedule    the webhooks' retry parameters (at least 24 h, jitter)
selectors   reads for the API, the settings page and the board
api         the ninja router (/api/v1/shops/{shop_id}/webhook-endpoints)
views       the settings page section and the DEBUG-only demo receiver
"""
