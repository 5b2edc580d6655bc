"""RO fields come from outside systems: whatever they hold is shown as text, never as markup."""

from tests import factories
from tests.board.conftest import signed_in

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _evil_ro(shop):
    fields = {
        "repair_number": "R<b>1</b>",
        "vehicle_make": EVIL,
        "vehicle_model": EVIL,
        "vehicle_color": EVIL,
        "customer_first_name": EVIL,
        "customer_last_name": EVIL,
        "insurance_name": EVIL,
        "vehicle_vin": "<i>",
        "vehicle_license_plate": EVIL[:20],
        "customer_email": '"><script>x</script>',
        "customer_phone_number": '<script>alert("x")</script>',
        "obs_event_id": EVIL,
        "status": "Active",
    }
    ro = factories.make_repair_order(shop=shop, **fields)
    factories.add_to_team(
        ro, factories.make_person(shop=shop, external_id=EVIL[:50], first_name=EVIL, title=EVIL)
    )
    return ro


def _assert_escaped(html: str):
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "<b>1</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_board_escapes_ro_fields(viewer, shop):
    _evil_ro(shop)
    _assert_escaped(signed_in(viewer).get("/shops/33/board/").content.decode())


def test_detail_escapes_ro_fields(estimator, shop):
    ro = _evil_ro(shop)
    html = signed_in(estimator).get(f"/shops/33/ros/{ro.id}/").content.decode()
    _assert_escaped(html)
    assert '"><script>x' not in html


def test_stale_move_message_escapes_the_repair_number(manager, shop):
    from repairs.services import repair_order_move

    ro = _evil_ro(shop)
    repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
    html = (
        signed_in(manager)
        .post(f"/shops/33/ros/{ro.id}/move/", {"stage_id": 7, "version": 1}, headers={"HX-Request": "true"})
        .content.decode()
    )
    assert "RO R&lt;b&gt;1&lt;/b&gt; was just moved to PRE-WASH by the system." in html
    _assert_escaped(html)
