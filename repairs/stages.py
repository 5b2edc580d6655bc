"""The 15 fixed stages (SPEC §1), and the stage ids the rules name.

`id` is what the API and OBS use; `position` is the board's left-to-right
order: 15 (DELIVERY UNCONFIRMED) comes before 14 (DELIVERED/CLOSED).

STAGES is the only list of them, and `stages_seed` the only code that writes
them: run by the data migration (0002), and again after a `flush`, which
empties every table (RepairsConfig's post_migrate handler; tests' fixtures).
"""

# Where a new RO starts (SPEC §1).
FIRST_STAGE_ID = 1
# DELIVERED/CLOSED: a delivered car is never overdue (repairs/cards.py).
DELIVERED_STAGE_ID = 14

# (position, id, name)
STAGES = [
    (1, 1, "SCHEDULED IN"),
    (2, 2, "VEHICLE ARRIVE"),
    (3, 3, "PRE-WASH"),
    (4, 4, "BLUEPRINT"),
    (5, 5, "DISASSEMBLY"),
    (6, 6, "STAGED FOR PRODUCTION"),
    (7, 7, "BODY"),
    (8, 8, "MECHANICAL"),
    (9, 9, "REFINISH"),
    (10, 10, "REASSEMBLY"),
    (11, 11, "DETAIL"),
    (12, 12, "FINAL INSPECTION"),
    (13, 13, "DELIVERY READY"),
    (14, 15, "DELIVERY UNCONFIRMED"),
    (15, 14, "DELIVERED/CLOSED"),
]

STAGE_NAMES = {stage_id: name for _, stage_id, name in STAGES}


def stages_seed(stage_model) -> None:
    """Create or correct the 15 stages; safe to run any number of times."""
    existing = {s.id: (s.position, s.name) for s in stage_model.objects.all()}
    if all(existing.get(i) == (p, n) for p, i, n in STAGES):
        return
    for position, stage_id, name in STAGES:
        stage_model.objects.update_or_create(id=stage_id, defaults={"name": name, "position": position})
