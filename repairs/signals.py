from django.dispatch import Signal

# The domain's announcements, for the integrations to follow without repairs
# importing them (ARCHITECTURE.md). Each is sent inside the writer's
# transaction, after its rows are written; receivers must do their work in
# that same transaction (the OBS and webhook outboxes do), so the change and
# what it announces commit or roll back together.

# Sent by repairs.services.repair_order_move. Receivers get `repair_order`
# and `stage_change`.
stage_changed = Signal()

# Sent by the batch create. Receivers get `repair_order_ids` (request order) and
# `shop_ids`, the shops those ROs are in (a receiver that looks for the shops'
# endpoints need not look them up through 1,000 ROs).
repair_orders_created = Signal()

# Sent when ROs change other than by a stage move: a batch PATCH, a team edit
# (a person added or removed, a person's details changed). Receivers get
# `repair_order_ids`, and `shop_ids` (their shops) from the batch PATCH.
repair_orders_updated = Signal()
