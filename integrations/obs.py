"""OBS outbox and delivery (SPEC §5). Filled in by the OBS work."""
