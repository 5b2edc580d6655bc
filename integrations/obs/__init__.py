"""OBS stage-change notifications (SPEC §5).

outbox      the stage_changed receiver: writes the Notification row in the
            move's transaction and queues its delivery on commit
services    the delivery (newest pending per RO, under a per-RO lock),
            re-send, the sweep
transport   the one place that speaks HTTP to OBS
schedule    the retry backoff
tasks       Celery tasks: take ids, call a service
selectors   reads for the board (problems) and the RO detail (deliveries)
views       re-send (board) and the DEBUG-only demo OBS receiver
"""
