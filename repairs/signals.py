from django.dispatch import Signal

# Sent by repairs.services.repair_order_move inside its transaction, after the
# StageChange row is written. Receivers get `repair_order` and `stage_change`
# and must do their work in the same transaction (the OBS outbox does).
stage_changed = Signal()
