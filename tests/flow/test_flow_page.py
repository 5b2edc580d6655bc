"""The flow page, its CSV, and the shop's time zone in the settings."""

import csv
import io
import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from repairs.models import Shop
from tests.board.conftest import signed_in
from tests.flow.history import make_history

PAGE = "/shops/33/flow/"
CSV = "/shops/33/flow/delivered.csv"
APRIL = "?from=2026-04-01&to=2026-04-30"


@pytest.fixture
def actors(manager, estimator, viewer, outsider):
    return {"manager": manager, "estimator": estimator, "viewer": viewer, "outsider": outsider}


@pytest.fixture
def april(shop):
    """Two cars delivered in April (one late, one with a formula-like number) and one in production."""
    shop.time_zone = "America/Chicago"
    shop.save()
    make_history(
        shop,
        [(1, "2026-04-01 08:00"), (2, "2026-04-02 08:00"), (9, "2026-04-03 08:00"), (15, "2026-04-06 08:00")],
        promised="2026-04-05 17:00",
        repair_number="A-1",
        vehicle_year=2019,
        vehicle_make="Toyota",
        vehicle_model="Camry",
        insurance_name="GEICO",
    )
    make_history(
        shop,
        [
            (1, "2026-04-01 08:00"),
            (2, "2026-04-03 08:00"),
            (9, "2026-04-04 08:00"),
            (15, "2026-04-05 08:00"),
            (14, "2026-04-06 08:00"),
        ],
        promised="2026-04-06 17:00",
        repair_number="=HYPERLINK(1)",
    )
    make_history(shop, [(1, "2026-04-01 09:00"), (2, "2026-04-03 08:00")])  # fmt: skip


@pytest.mark.parametrize(
    ("role", "status"), [("manager", 200), ("estimator", 200), ("viewer", 200), ("outsider", 404)]
)
@pytest.mark.parametrize("path", [PAGE, CSV])
def test_flow_page_and_csv_for_every_member_404_to_others(actors, path, role, status):
    assert signed_in(actors[role]).get(path).status_code == status


def test_flow_page_of_a_missing_shop_is_404_and_anonymous_goes_to_sign_in(client, manager):
    assert signed_in(manager).get("/shops/9999/flow/").status_code == 404
    response = client.get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_flow_page_shows_the_figures_in_tables_and_as_chart_data(viewer, april):
    response = signed_in(viewer).get(PAGE + APRIL)

    assert response.status_code == 200
    html = response.content.decode()
    # Cycle: A-1 2 Apr 08:00 → 6 Apr 08:00 (4 d), =HYPERLINK(1) 3 Apr → 5 Apr (2 d): median 3 d, p90 3.8 d.
    assert '<td data-figure="delivered">2</td>' in html
    assert '<td data-figure="median">3.0 d</td>' in html and '<td data-figure="p90">3.8 d</td>' in html
    assert "50 %" in html and "1 of 2 with a promised date" in html
    # REFINISH: 3 days and 1 day, the longest median: the bottleneck.
    assert re.search(
        r'<tr data-stage-id="9" class="is-bottleneck"><th scope="row">REFINISH <span class="badge">'
        r"Bottleneck</span></th><td>2</td><td>2.0 d</td><td>2.8 d</td></tr>",
        html,
    )
    # Delivered on Sunday 5 April (ISO week 14) and Monday 6 April (week 15).
    assert '<tr><th scope="row">2026-W14</th><td>1</td></tr>' in html
    assert '<tr><th scope="row">2026-W15</th><td>1</td></tr>' in html
    data = json.loads(
        re.search(
            r'<script id="flow-chart-data" type="application/json">(.*?)</script>', html, re.DOTALL
        ).group(1)
    )
    assert [round(days, 3) for days in data["cycle"]["days"]] == [2.0, 4.0]
    assert len(data["cycle"]["x"]) == len(data["cycle"]["ro"]) == 2
    assert data["stages"]["labels"][data["stages"]["bottleneck"]] == "REFINISH"
    assert len(data["wip"]["series"]) == 15 and len(data["wip"]["labels"]) == 30
    # No inline script: every <script> is a file or the JSON data.
    assert all(
        "src=" in tag or 'type="application/json"' in tag for tag in re.findall(r"<script[^>]*>", html)
    )


def test_the_bottleneck_is_a_production_stage_not_the_wait_before_arrival(viewer, shop):
    make_history(shop, [(1, "2026-04-01 08:00"), (2, "2026-04-11 08:00"), (7, "2026-04-11 10:00"),
                        (13, "2026-04-12 10:00"), (15, "2026-04-12 12:00"), (14, "2026-04-20 12:00")])  # fmt: skip
    html = signed_in(viewer).get(PAGE + APRIL).content.decode()
    assert re.findall(r'<tr data-stage-id="(\d+)" class="is-bottleneck">', html) == ["7"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("?from=2026-04-02&to=2026-04-01", "from (2026-04-02) is after to (2026-04-01)."),
        ("?from=2025-01-01&to=2026-02-05", "A period is at most 400 days; this one has 401."),
        ("?from=2026-02-30", "Enter a valid date."),
        ("?days=7", "Select a valid choice. 7 is not one of the available choices."),
    ],
)
def test_bad_period_on_the_page_says_what_is_wrong(viewer, shop, query, error):
    response = signed_in(viewer).get(PAGE + query)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert "flow-chart-data" not in response.content.decode()


@pytest.mark.parametrize("days", [30, 90, 365])
def test_last_days_links_choose_the_period(viewer, shop, days):
    today = timezone.now().astimezone(ZoneInfo(shop.time_zone)).date()
    response = signed_in(viewer).get(f"{PAGE}?days={days}")
    assert response.context["period"].date_from == today - timedelta(days=days - 1)
    assert response.context["period"].date_to == today
    assert f'aria-current="page">Last {days} days' in response.content.decode()


def _statements(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    # Savepoints are the test's transaction around the page's; each figure's settings (no JIT, sort
    # memory) come with it.
    return [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "SELECT set_config("))
    ]


def test_flow_page_queries_do_not_grow_with_the_cars(viewer, shop):
    client = signed_in(viewer)
    make_history(shop, [(1, "2026-04-01 08:00"), (2, "2026-04-02 08:00"), (15, "2026-04-05 08:00")])
    few = _statements(client, PAGE + APRIL)
    for i in range(1, 13):
        make_history(shop, [(1, "2026-04-01 08:00"), (2, f"2026-04-{i + 1:02d} 08:00"),
                            (15, f"2026-04-{i + 5:02d} 08:00")])  # fmt: skip
    many = _statements(client, PAGE + APRIL)
    # session, user, membership; the deliveries, the stages and days, the cars (the stage names are
    # the fixed list, repairs/stages.py; the three figures share one transaction and its settings).
    assert len(many) == len(few) == 6


def test_csv_lists_the_periods_delivered_cars_streamed(viewer, april):
    response = signed_in(viewer).get(CSV + APRIL)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="shop-33-delivered-2026-04-01-to-2026-04-30.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["repair_number", "vehicle", "insurer", "arrived_at", "delivered_at", "cycle_time_days", "promised",
         "on_time"],
        ["'=HYPERLINK(1)", "", "", "2026-04-03T08:00-05:00", "2026-04-05T08:00-05:00", "2.00",
         "2026-04-06T17:00-05:00", "yes"],
        ["A-1", "2019 Toyota Camry", "GEICO", "2026-04-02T08:00-05:00", "2026-04-06T08:00-05:00", "4.00",
         "2026-04-05T17:00-05:00", "no"],
    ]  # fmt: skip


def test_csv_with_a_bad_period_is_422(viewer, shop):
    assert signed_in(viewer).get(CSV + "?from=2026-05-01&to=2026-04-01").status_code == 422


def test_manager_sets_the_shop_time_zone(manager, shop):
    client = signed_in(manager)
    assert '<option value="America/Chicago">' in client.get("/shops/33/settings/").content.decode()
    response = client.post(
        "/shops/33/settings/",
        {"days_in_stage_amber": 3, "days_in_stage_red": 7, "time_zone": "America/Chicago"},
    )
    assert response.status_code == 302
    assert Shop.objects.get(pk=33).time_zone == "America/Chicago"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "utc "])
def test_an_unknown_time_zone_is_refused_and_nothing_saved(manager, shop, zone):
    response = signed_in(manager).post(
        "/shops/33/settings/", {"days_in_stage_amber": 2, "days_in_stage_red": 9, "time_zone": zone}
    )
    assert response.status_code == 422
    assert ("is not an IANA time zone name" in response.content.decode()) or zone == ""
    stored = Shop.objects.get(pk=33)
    assert (stored.time_zone, stored.days_in_stage_amber) == ("UTC", 3)


def test_a_new_shop_takes_the_servers_time_zone(db, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert Shop.objects.create(id=77, name="Berlin").time_zone == "Europe/Berlin"
