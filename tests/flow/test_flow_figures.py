"""SPEC §8 figures of hand-built histories, each expected number worked out by hand.

Times in the histories are the shop's local times. DAY and HOUR are seconds.
"""

import json
from datetime import date

import pytest

from repairs.flow import STAGE_IDS_IN_BOARD_ORDER, FlowPeriod, flow_figures
from tests import factories
from tests.flow.history import local, make_history

HOUR = 3600.0
DAY = 24 * HOUR
BOARD_ORDER = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 14]
NOTHING = {"median": None, "p90": None, "mean": None}


def rounded(value):
    """Seconds to the millisecond: percentile_cont interpolates in floating point."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def cycle(seconds: float) -> dict:
    return {"median": seconds, "p90": seconds, "mean": seconds}


CASES = [
    pytest.param(
        {
            "tz": "UTC",
            "ros": [
                # Every stage in board order, one day each, from 1 April 08:00.
                {
                    "steps": [(s, f"2026-04-{i + 1:02d} 08:00") for i, s in enumerate(BOARD_ORDER)],
                    "promised": "2026-04-14 17:00",
                },
                # Closed in March, its row untouched since: DELIVERED/CLOSED all April, nothing else.
                {"steps": [(1, "2026-03-02 08:00"), (2, "2026-03-03 08:00"), (14, "2026-03-20 08:00")]},
            ],
            "period": ("2026-04-01", "2026-04-30"),
            "now": "2026-05-01 12:00",
            # Arrived 2 April 08:00 (stage 2), delivered 14 April 08:00 (into 15, DELIVERY UNCONFIRMED).
            "delivered": 1,
            "cycle": cycle(12 * DAY),
            "on_time": {"promised": 1, "on_time": 1, "rate": 1.0},
            # Every visit but the last (DELIVERED/CLOSED, still going on) ended in April after a day.
            "stages": {s: (1, DAY, DAY) for s in BOARD_ORDER[:-1]},
            # 1 April 2026 is a Wednesday of ISO week 14; 14 April is in week 16; 30 April in week 18.
            "throughput": {"2026-W14": 0, "2026-W15": 0, "2026-W16": 1, "2026-W17": 0, "2026-W18": 0},
            "wip": {
                "2026-04-01": {1: 1, 14: 1},
                "2026-04-14": {15: 1, 14: 1},
                "2026-04-15": {14: 2},
                "2026-04-30": {14: 2},
            },
        },
        id="straight-run-through-all-stages",
    ),
    pytest.param(
        {
            "tz": "UTC",
            "ros": [
                {
                    "steps": [
                        (1, "2026-04-01 08:00"),
                        (2, "2026-04-02 10:00"),
                        (7, "2026-04-03 10:00"),
                        (13, "2026-04-06 10:00"),
                        (14, "2026-04-07 16:00"),
                    ]
                }
            ],
            "period": ("2026-04-01", "2026-04-30"),
            "now": "2026-05-01 12:00",
            # 2 April 10:00 to 7 April 16:00; straight to DELIVERED/CLOSED counts as delivered.
            "delivered": 1,
            "cycle": cycle(5 * DAY + 6 * HOUR),
            "on_time": {"promised": 0, "on_time": 0, "rate": None},
            "stages": {
                1: (1, 26 * HOUR, 26 * HOUR),
                2: (1, DAY, DAY),
                7: (1, 3 * DAY, 3 * DAY),
                13: (1, 30 * HOUR, 30 * HOUR),
            },
            "throughput": {"2026-W14": 0, "2026-W15": 1, "2026-W16": 0, "2026-W17": 0, "2026-W18": 0},
            "wip": {"2026-04-05": {7: 1}, "2026-04-07": {14: 1}},
        },
        id="skipped-stages",
    ),
    pytest.param(
        {
            "tz": "UTC",
            "ros": [
                # Delivered 4 April, back to REFINISH on the 5th, delivered again on the 8th (late).
                {
                    "steps": [
                        (1, "2026-04-01 08:00"),
                        (2, "2026-04-02 08:00"),
                        (11, "2026-04-03 08:00"),
                        (15, "2026-04-04 08:00"),
                        (9, "2026-04-05 08:00"),
                        (11, "2026-04-06 08:00"),
                        (15, "2026-04-08 08:00"),
                        (14, "2026-04-09 08:00"),
                    ],
                    "promised": "2026-04-07 17:00",
                },
                # Delivered 3 April and moved back into REASSEMBLY, where it still is: not delivered.
                {
                    "steps": [
                        (1, "2026-04-01 08:00"),
                        (2, "2026-04-02 08:00"),
                        (15, "2026-04-03 08:00"),
                        (10, "2026-04-04 08:00"),
                    ],
                    "promised": "2026-04-03 17:00",
                },
            ],
            "period": ("2026-04-01", "2026-04-30"),
            "now": "2026-05-01 12:00",
            # The last delivery counts: 2 April 08:00 to 8 April 08:00.
            "delivered": 1,
            "cycle": cycle(6 * DAY),
            "on_time": {"promised": 1, "on_time": 0, "rate": 0.0},
            # DETAIL visited twice (1 and 2 days): median 1.5 days, p90 1 + 0.9 × 1 = 1.9 days.
            "stages": {
                1: (2, DAY, DAY),
                2: (2, DAY, DAY),
                11: (2, 1.5 * DAY, 1.9 * DAY),
                15: (3, DAY, DAY),
                9: (1, DAY, DAY),
            },
            "throughput": {"2026-W14": 0, "2026-W15": 1, "2026-W16": 0, "2026-W17": 0, "2026-W18": 0},
            "wip": {"2026-04-04": {15: 1, 10: 1}, "2026-04-05": {9: 1, 10: 1}, "2026-04-30": {14: 1, 10: 1}},
        },
        id="moved-back-into-production-and-delivered-again",
    ),
    pytest.param(
        {
            "tz": "UTC",
            "ros": [
                # DELIVERY UNCONFIRMED on 30 April 20:00, DELIVERED/CLOSED the next morning: delivered in April.
                {
                    "steps": [
                        (1, "2026-03-20 08:00"),
                        (2, "2026-03-21 08:00"),
                        (13, "2026-03-25 08:00"),
                        (15, "2026-04-30 20:00"),
                        (14, "2026-05-01 09:00"),
                    ],
                    "promised": "2026-05-01 00:00",
                },
                # DELIVERY UNCONFIRMED on 31 March, closed on 1 April: delivered in March, not April.
                {
                    "steps": [
                        (1, "2026-03-20 08:00"),
                        (2, "2026-03-21 08:00"),
                        (13, "2026-03-30 08:00"),
                        (15, "2026-03-31 23:00"),
                        (14, "2026-04-01 10:00"),
                    ]
                },
            ],
            "period": ("2026-04-01", "2026-04-30"),
            "now": "2026-05-02 12:00",
            # 21 March 08:00 to 30 April 20:00: 40 days 12 hours; promised by 1 May 00:00.
            "delivered": 1,
            "cycle": cycle(40 * DAY + 12 * HOUR),
            "on_time": {"promised": 1, "on_time": 1, "rate": 1.0},
            # Ended in April: the first car's DELIVERY READY (25 Mar 08:00 → 30 Apr 20:00) and the
            # second's DELIVERY UNCONFIRMED (31 Mar 23:00 → 1 Apr 10:00).
            "stages": {13: (1, 36 * DAY + 12 * HOUR, 36 * DAY + 12 * HOUR), 15: (1, 11 * HOUR, 11 * HOUR)},
            # Throughput counts whole ISO weeks: week 14 (30 Mar – 5 Apr) has the 31 March delivery.
            "throughput": {"2026-W14": 1, "2026-W15": 0, "2026-W16": 0, "2026-W17": 0, "2026-W18": 1},
            "wip": {"2026-04-01": {13: 1, 14: 1}, "2026-04-30": {15: 1, 14: 1}},
        },
        id="delivery-unconfirmed-then-delivered-closed",
    ),
    pytest.param(
        {
            "tz": "UTC",
            "ros": [
                # Scheduled in, never arrived: only ever in stage 1.
                {"steps": [(1, "2026-04-01 08:00")], "promised": "2026-04-05 17:00"},
                # Closed without coming in: its first visit at position ≥ 2 is DELIVERED/CLOSED itself.
                {"steps": [(1, "2026-04-02 08:00"), (14, "2026-04-03 12:00")]},
            ],
            "period": ("2026-04-01", "2026-04-07"),
            "now": "2026-04-08 12:00",
            "delivered": 1,
            "cycle": cycle(0.0),
            "on_time": {"promised": 0, "on_time": 0, "rate": None},
            "stages": {1: (1, 28 * HOUR, 28 * HOUR)},
            "throughput": {"2026-W14": 1, "2026-W15": 0},
            "wip": {
                "2026-04-01": {1: 1},
                "2026-04-02": {1: 2},
                "2026-04-03": {1: 1, 14: 1},
                "2026-04-07": {1: 1, 14: 1},
            },
        },
        id="a-car-never-arrived",
    ),
    pytest.param(
        {
            # Clocks go forward on Sunday 8 March 2026 at 02:00 in Chicago: that day has 23 hours,
            # from 06:00 UTC to 05:00 UTC the next day.
            "tz": "America/Chicago",
            "ros": [
                # Arrived 6 Mar 08:00 CST (14:00 UTC), delivered 8 Mar 15:00 CDT (20:00 UTC).
                {
                    "steps": [
                        (1, "2026-03-05 08:00"),
                        (2, "2026-03-06 08:00"),
                        (12, "2026-03-07 09:00"),
                        (15, "2026-03-08 15:00"),
                    ],
                    "promised": "2026-03-08 17:00",
                },
                # Delivered 7 Mar 23:30 CST (05:30 UTC on the 8th): the 7th, the shop's day before.
                {"steps": [(1, "2026-03-05 08:00"), (2, "2026-03-06 09:00"), (15, "2026-03-07 23:30")]},
                # Delivered 9 Mar 00:30 CDT (05:30 UTC): after the short day, though within 24 h of its start.
                {
                    "steps": [
                        (1, "2026-03-05 08:00"),
                        (2, "2026-03-06 10:00"),
                        (13, "2026-03-08 01:30"),
                        (15, "2026-03-09 00:30"),
                    ]
                },
            ],
            "period": ("2026-03-08", "2026-03-08"),
            "now": "2026-03-10 12:00",
            # 14:00 UTC on the 6th to 20:00 UTC on the 8th: 2 days 6 hours (wall clocks say 7).
            "delivered": 1,
            "cycle": cycle(2 * DAY + 6 * HOUR),
            "on_time": {"promised": 1, "on_time": 1, "rate": 1.0},
            # FINAL INSPECTION 7 Mar 09:00 CST → 8 Mar 15:00 CDT = 29 h; the third car's VEHICLE
            # ARRIVE 6 Mar 10:00 CST → 8 Mar 01:30 CST = 39.5 h.
            "stages": {12: (1, 29 * HOUR, 29 * HOUR), 2: (1, 39.5 * HOUR, 39.5 * HOUR)},
            # ISO week 10 is 2–8 March: the first two cars.
            "throughput": {"2026-W10": 2},
            "wip": {"2026-03-08": {15: 2, 13: 1}},
        },
        id="delivered-on-the-day-of-a-dst-change-in-chicago",
    ),
    pytest.param(
        {
            "tz": "UTC",
            "ros": [
                {
                    "steps": [(1, "2026-04-01 08:00"), (2, "2026-04-02 08:00"), (7, "2026-04-03 08:00")],
                    "promised": "2026-04-03 17:00",
                },
                # In BODY since March, waiting for parts: counted there every day, no visit ended.
                {"steps": [(1, "2026-03-02 08:00"), (2, "2026-03-03 08:00"), (7, "2026-03-04 08:00")]},
            ],
            "period": ("2026-04-01", "2026-04-03"),
            "now": "2026-04-04 12:00",
            "delivered": 0,
            "cycle": NOTHING,
            "on_time": {"promised": 0, "on_time": 0, "rate": None},
            "stages": {1: (1, DAY, DAY), 2: (1, DAY, DAY)},
            "throughput": {"2026-W14": 0},
            "wip": {"2026-04-01": {1: 1, 7: 1}, "2026-04-02": {2: 1, 7: 1}, "2026-04-03": {7: 2}},
        },
        id="no-deliveries-statistics-null",
    ),
    pytest.param(
        {
            "tz": "America/Chicago",
            "ros": [
                {
                    "steps": [
                        (1, "2026-04-08 10:00"),
                        (2, "2026-04-09 00:00"),
                        (13, "2026-04-09 12:00"),
                        (15, "2026-04-10 00:00"),
                    ]
                }
            ],
            "period": ("2026-04-10", "2026-04-10"),
            "now": "2026-04-11 12:00",
            # Delivered at exactly the first instant of 10 April: in the period, one day after arriving.
            "delivered": 1,
            "cycle": cycle(DAY),
            "on_time": {"promised": 0, "on_time": 0, "rate": None},
            # DELIVERY READY ended at 00:00 on the 10th: a visit that ended in the period.
            "stages": {13: (1, 12 * HOUR, 12 * HOUR)},
            "throughput": {"2026-W15": 1},
            "wip": {"2026-04-10": {15: 1}},
        },
        id="period-starting-exactly-at-midnight-in-the-shop-zone",
    ),
    pytest.param(
        {
            "tz": "America/Chicago",
            "ros": [
                {
                    "steps": [
                        (1, "2026-04-08 10:00"),
                        (2, "2026-04-09 00:00"),
                        (13, "2026-04-09 12:00"),
                        (15, "2026-04-10 00:00"),
                    ]
                }
            ],
            "period": ("2026-04-09", "2026-04-09"),
            "now": "2026-04-11 12:00",
            # The same car: its delivery at 00:00 on the 10th is the next day's, not the 9th's.
            "delivered": 0,
            "cycle": NOTHING,
            "on_time": {"promised": 0, "on_time": 0, "rate": None},
            "stages": {1: (1, 14 * HOUR, 14 * HOUR), 2: (1, 12 * HOUR, 12 * HOUR)},
            "throughput": {"2026-W15": 1},
            "wip": {"2026-04-09": {13: 1}},
        },
        id="period-ending-exactly-at-midnight-in-the-shop-zone",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
def test_flow_figures_of_hand_built_histories(case):
    shop = factories.make_shop(time_zone=case["tz"])
    other = factories.make_shop(time_zone=case["tz"])
    for ro in case["ros"]:
        make_history(shop, ro["steps"], promised=ro.get("promised"))
        # The same history in another shop must not count.
        make_history(other, ro["steps"], promised=ro.get("promised"))
    date_from, date_to = (date.fromisoformat(d) for d in case["period"])

    figures = flow_figures(
        FlowPeriod(
            shop_id=shop.id,
            time_zone=shop.time_zone,
            date_from=date_from,
            date_to=date_to,
            now=local(shop, case["now"]),
        )
    )

    assert (figures["shop_id"], figures["from"], figures["to"], figures["time_zone"]) == (
        shop.id,
        case["period"][0],
        case["period"][1],
        case["tz"],
    )
    assert json.loads(json.dumps(figures)) == figures  # plain JSON types only
    assert figures["delivered"] == case["delivered"]
    assert rounded(figures["cycle_time_seconds"]) == case["cycle"]
    assert rounded(figures["on_time"]) == case["on_time"]
    expected_stages = [
        {
            "stage_id": s,
            "visits": case["stages"].get(s, (0,))[0],
            "median_seconds": case["stages"].get(s, (0, None))[1],
            "p90_seconds": case["stages"].get(s, (0, None, None))[2],
        }
        for s in BOARD_ORDER
    ]
    assert rounded(figures["stages"]) == expected_stages
    assert {w["week"]: w["delivered"] for w in figures["throughput"]} == case["throughput"]
    assert [w["week"] for w in figures["throughput"]] == sorted(case["throughput"])
    days = [d["date"] for d in figures["wip"]]
    assert days[0] == case["period"][0] and days[-1] == case["period"][1]
    assert len(days) == (date_to - date_from).days + 1
    wip = {d["date"]: d["stages"] for d in figures["wip"]}
    for day, counts in case["wip"].items():
        assert wip[day] == {str(s): counts.get(s, 0) for s in STAGE_IDS_IN_BOARD_ORDER}, day
