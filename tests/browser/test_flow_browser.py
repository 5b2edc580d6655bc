"""The flow page in Chromium: four charts drawn, their tables showing the API's numbers."""

import pytest
from playwright.sync_api import expect

from repairs.demo import demo_load
from repairs.demo_history import demo_history_load
from repairs.templatetags.flow_tags import duration
from tests import factories
from tests.browser.conftest import sign_in
from tests.conftest import ApiClient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ["chart-cycle", "chart-stages", "chart-throughput", "chart-wip"]


def _rows(page, table_id: str, part: str = "tbody") -> list[list[str]]:
    return page.locator(f"#{table_id} {part} tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.children).map(c => c.textContent.trim()))"
    )


def test_flow_page_draws_four_charts_with_the_apis_numbers(
    page, live_server, client, viewer, shop, artifacts, page_errors
):
    demo_load(shops={shop.id: shop.name})
    demo_history_load(shop_ids=[shop.id])
    sign_in(page, live_server, "viewer")

    page.get_by_role("link", name="Flow").click()
    page.get_by_role("link", name="Last 90 days").click()
    page.wait_for_selector("body[data-flow-drawn]")

    for chart in CHARTS:
        box = page.locator(f"#{chart}").bounding_box()
        assert box["width"] > 200 and box["height"] > 150, chart
        assert page.evaluate(f"() => Chart.getChart('{chart}').data.datasets.length") > 0, chart
    # The same period through the API, with a key of this shop.
    period = page.url.split("?")[1]
    assert period == "days=90"
    chart_data = page.evaluate("() => JSON.parse(document.getElementById('flow-chart-data').textContent)")
    api = (
        ApiClient(client, factories.make_api_key(shop))
        .get(
            f"/api/v1/shops/{shop.id}/flow",
            {"from": chart_data["wip"]["labels"][0], "to": chart_data["wip"]["labels"][-1]},
        )
        .json()
    )

    assert api["delivered"] > 50
    cycle = api["cycle_time_seconds"]
    assert _rows(page, "table-cycle", "tfoot")[0] == [
        "Period",
        str(api["delivered"]),
        duration(cycle["median"]),
        duration(cycle["p90"]),
    ]
    stage_rows = _rows(page, "table-stages")
    assert [row[1:] for row in stage_rows] == [
        [str(s["visits"]), duration(s["median_seconds"]), duration(s["p90_seconds"])] for s in api["stages"]
    ]
    production = api["stages"][1:13]  # VEHICLE ARRIVE … DELIVERY READY: on the premises, not yet delivered
    slowest = max(production, key=lambda s: s["median_seconds"] or 0)
    expect(page.locator(f'#table-stages tr[data-stage-id="{slowest["stage_id"]}"] .badge')).to_have_text(
        "Bottleneck"
    )
    assert _rows(page, "table-throughput") == [[w["week"], str(w["delivered"])] for w in api["throughput"]]
    stage_order = [str(s["stage_id"]) for s in api["stages"]]
    assert _rows(page, "table-wip") == [
        [d["date"], *(str(d["stages"][s]) for s in stage_order)] for d in api["wip"]
    ]
    assert len(chart_data["cycle"]["x"]) == api["delivered"]

    page.screenshot(path=str(artifacts / "flow-1366x768.png"))
    page.screenshot(path=str(artifacts / "flow-1366x768-full.png"), full_page=True)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_timeout(300)  # Chart.js redraws on resize
    page.screenshot(path=str(artifacts / "flow-1920x1080.png"))
    page.screenshot(path=str(artifacts / "flow-1920x1080-full.png"), full_page=True)
    assert page_errors == []
