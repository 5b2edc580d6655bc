"""The shop-floor domain: shops, the 15 stages, repair orders, their teams.

Optional text fields of a repair order are nullable on purpose: the batch API
distinguishes "never sent / cleared with null" from an empty string, and an RO
read back must show exactly what was sent (SPEC §3, §4).
"""

import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower


@cache
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_validate(name: str) -> None:
    """An IANA zone name (e.g. America/Chicago): days and weeks of the flow figures are counted in it."""
    if name not in time_zone_names():
        raise ValidationError(
            f"'{name}' is not an IANA time zone name, e.g. America/Chicago.", code="invalid"
        )


def time_zone_default() -> str:
    return settings.TIME_ZONE


class Shop(models.Model):
    # The id is the source systems' shop id (SPEC §3 `shop_id`), not ours.
    id = models.PositiveIntegerField(primary_key=True)
    name = models.CharField(max_length=200)
    # Days in one stage after which a card turns amber, then red.
    days_in_stage_amber = models.PositiveSmallIntegerField(default=3)
    days_in_stage_red = models.PositiveSmallIntegerField(default=7)
    # Where the shop's days begin and end for the flow figures (SPEC §8).
    time_zone = models.CharField(max_length=64, default=time_zone_default, validators=[time_zone_validate])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.id})"


class Stage(models.Model):
    """One of the 15 fixed production stages (SPEC §1), seeded by a migration."""

    id = models.PositiveSmallIntegerField(primary_key=True)
    name = models.CharField(max_length=50)
    position = models.PositiveSmallIntegerField(unique=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    """A team member of a shop, keyed by the source system's employee id."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="people")
    external_id = models.CharField(max_length=50)
    first_name = models.CharField(max_length=100, null=True, blank=True)
    last_name = models.CharField(max_length=100, null=True, blank=True)
    title = models.CharField(max_length=100, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "external_id"], name="person_unique_external_id_per_shop"
            ),
        ]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or self.external_id

    @property
    def initials(self) -> str:
        letters = "".join(p[0] for p in (self.first_name, self.last_name) if p)
        return (letters or self.external_id[:2]).upper()


class RepairOrder(models.Model):
    # No index of its own: every index below and the unique number lead with the shop.
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="repair_orders", db_index=False)
    repair_number = models.CharField(max_length=50)
    # No index on the stage: ROs are read by shop, never by stage alone, and the 15 stages are
    # never deleted (StageAdmin); every move and batch write would update it (migration 0008).
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+", db_index=False)
    stage_entered_at = models.DateTimeField()
    status = models.CharField(max_length=30, default="Active")

    scheduled_arrival = models.DateTimeField(null=True, blank=True)
    scheduled_complete = models.DateTimeField(null=True, blank=True)
    scheduled_delivery = models.DateTimeField(null=True, blank=True)
    obs_event_id = models.CharField(max_length=100, null=True, blank=True)
    rental_car = models.BooleanField(null=True, blank=True)
    total_estimated_hours = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)

    vehicle_year = models.PositiveSmallIntegerField(null=True, blank=True)
    vehicle_make = models.CharField(max_length=100, null=True, blank=True)
    vehicle_model = models.CharField(max_length=100, null=True, blank=True)
    vehicle_color = models.CharField(max_length=100, null=True, blank=True)
    vehicle_vin = models.CharField(max_length=17, null=True, blank=True)
    vehicle_license_plate = models.CharField(max_length=20, null=True, blank=True)

    customer_first_name = models.CharField(max_length=100, null=True, blank=True)
    customer_last_name = models.CharField(max_length=100, null=True, blank=True)
    customer_email = models.CharField(max_length=254, null=True, blank=True)
    customer_phone_number = models.CharField(max_length=50, null=True, blank=True)

    insurance_name = models.CharField(max_length=200, null=True, blank=True)

    team = models.ManyToManyField(
        Person, through="RepairTeamMember", related_name="repair_orders", blank=True
    )

    # Optimistic-locking counter: every change bumps it (SPEC §4, §7).
    version = models.PositiveIntegerField(default=1)
    # The shop's board version (BoardVersion) at which the card last changed: what a
    # board that has seen version v must redraw is the ROs stamped past v (repairs.live).
    board_version = models.BigIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shop_id", "repair_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "repair_number"], name="repair_order_unique_number_per_shop"
            ),
        ]
        indexes = [
            # Board: the Active ROs of one shop (status compared case-insensitively).
            models.Index("shop", Lower("status"), name="ro_shop_status_idx"),
            # Read API keyset pagination and `updated_since`.
            models.Index(fields=["shop", "updated_at", "id"], name="ro_shop_updated_idx"),
            # Board deltas: the ROs of one shop changed since a board version (repairs.live).
            models.Index(fields=["shop", "board_version"], name="ro_shop_board_version_idx"),
        ]

    def __str__(self) -> str:
        return f"RO {self.repair_number} (shop {self.shop_id})"

    @property
    def is_active(self) -> bool:
        return self.status.lower() == "active"


class BoardVersion(models.Model):
    """A shop's board version: grows by exactly 1 per committed write transaction that
    changes anything a card of the shop shows (repairs.live.board_changed).

    A table of its own, not a column of Shop: a Shop saved whole (the admin, a settings
    form) would write back the version it read and undo concurrent bumps.
    """

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)
    # The last version whose change no card delta can carry (an RO deleted, the shop's
    # thresholds recolouring every card): a board older than it loads the whole board.
    redraw_version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"board of shop {self.shop_id} at version {self.version}"


class RepairTeamMember(models.Model):
    # Indexed by team_member_unique_per_ro, which leads with it.
    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, related_name="team_links", db_index=False
    )
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="team_links")
    # Request order of the team, so an RO reads back as it was sent.
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["repair_order", "person"], name="team_member_unique_per_ro"),
        ]


class StageChange(models.Model):
    class Source(models.TextChoices):
        """Who made a stage change (SPEC §4). The admin cannot move an RO (its
        stage is read-only there), so no change has the spec's "admin" source."""

        API = "api", "API"  # the creation of an RO by the batch API, in the first stage
        BOARD = "board", "Board"
        BEACON = "beacon", "Beacon"

    # No index of its own: stage_change_ro_time_idx starts with it.
    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, related_name="stage_changes", db_index=False
    )
    # No index on the stages: nothing reads the history by stage, and the 15 stages are never
    # deleted (StageAdmin); at 10 M changes the two indexes were 124 MB written on every move.
    from_stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+", db_index=False)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices)

    class Meta:
        ordering = ["-changed_at", "-id"]
        # An RO's history in time order, both ways: the RO page (newest first) and
        # the flow figures' visits (LEAD over changed_at, id) read it from this index.
        indexes = [models.Index(fields=["repair_order", "changed_at", "id"], name="stage_change_ro_time_idx")]

    def __str__(self) -> str:
        return f"{self.repair_order}: {self.from_stage_id} → {self.to_stage_id}"


class Membership(models.Model):
    class Role(models.TextChoices):
        MANAGER = "manager", "Manager"
        ESTIMATOR = "estimator", "Estimator"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "shop"], name="membership_unique_user_shop")]

    def __str__(self) -> str:
        return f"{self.user} — {self.role} of {self.shop}"

    @property
    def can_move(self) -> bool:
        return self.role == self.Role.MANAGER

    @property
    def can_edit_team(self) -> bool:
        return self.role in (self.Role.MANAGER, self.Role.ESTIMATOR)


class FlowVisit(models.Model):
    """One visit of an RO to a stage (SPEC §8), kept by the writers of the stage history
    (repairs/flow_summaries.py): the flow figures read a period's visits by one index range.

    Derived data, exact by construction: every writer recomputes its ROs' visits from their
    histories in the same transaction. shop_id and stage_id are copies, not foreign keys: the
    summary is rebuilt from the history, so a constraint check per written row would only cost.
    The same goes for stage_change (migration 0010): its writers take the id from the change
    they have just written, and its deletion takes the visit with it (Django's on_delete); the
    database's check cost a trigger and a look-up per visit at commit (1,000 for a batch).
    """

    # The change that began the visit (its creation, for stage 1); the visit goes with it.
    stage_change = models.OneToOneField(
        StageChange, on_delete=models.CASCADE, primary_key=True, related_name="+", db_constraint=False
    )
    shop_id = models.PositiveIntegerField()
    stage_id = models.PositiveSmallIntegerField()
    entered_at = models.DateTimeField()
    # The RO's next change (LEAD over changed_at, id); null while it is still there.
    left_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            # Per stage, the visits that ended in a period (time per stage, cumulative flow) and those
            # not ended (NULLs sort last), index-only: each stage's range read on its own, no sort by stage.
            models.Index(
                fields=["shop_id", "stage_id", "left_at"],
                include=["entered_at"],
                name="flow_visit_shop_stage_idx",
            )
        ]


class FlowDelivery(models.Model):
    """A delivered RO (SPEC §8: now at position ≥ 14) with its delivered at and arrived at, kept
    like FlowVisit: the delivery figures read a period's deliveries by one index range, index-only.
    repair_number and scheduled_delivery are the RO's, copied so that no figure joins the ROs (a
    writer of either refreshes the RO's summaries: the batch PATCH, the admin)."""

    repair_order = models.OneToOneField(
        RepairOrder, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    shop_id = models.PositiveIntegerField()
    delivered_at = models.DateTimeField()
    arrived_at = models.DateTimeField(null=True)
    repair_number = models.CharField(max_length=50)
    scheduled_delivery = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["shop_id", "delivered_at"],
                include=["arrived_at", "scheduled_delivery", "repair_number"],
                name="flow_delivery_shop_time_idx",
            )
        ]
