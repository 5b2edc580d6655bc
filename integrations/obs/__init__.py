"""OBS stage-change notifications (SPEC §5): one destination of the one
outbox (integrations/delivery/).

models      Notification / DeliveryAttempt: OBS's view of the outbox's rows
outbox      the stage_changed receiver: writes the notification in the move's
            transaction and queues its delivery on commit
services    record, and OBS's names for the engine's deliver and re-send
adapter     what is OBS's own: latest-only lanes, the body at send time,
            delivered or not, re-send rule
transport   the one place that speaks HTTP to OBS
schedule    OBS's retry parameters (at least 6 h)
locks       OBS's lane of the shared ordering rule
selectors   reads for the board (problems) and the RO detail (deliveries)
views       re-send (board) and the DEBUG-only demo OBS receiver
"""
