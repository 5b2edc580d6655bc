"""A body without a NUL is validated without the NUL checks (integrations/api/parsing.py):
for such a body, every RO gets the same answer as with them, and a NUL anywhere is still
refused with its pointer."""

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from integrations.api.parsing import (
    _REPAIR_ORDER,
    _REPAIR_ORDER_NUL_FREE,
    body_may_hold_nul,
    validate_batch,
)
from repairs.batch import BatchMode
from tests.security.test_fuzz_batch import repair_order


def _outcome(validator, raw):
    try:
        return "ok", validator.validate_python(raw).model_dump()
    except ValidationError as exc:
        return "refused", exc.errors(include_url=False, include_input=False)


@pytest.mark.parametrize("mode", list(BatchMode))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=repair_order)
def test_without_a_nul_the_answer_is_the_same(mode, raw):
    text = json.dumps(raw, default=str)
    if body_may_hold_nul(text.encode()):
        return
    raw = json.loads(text, parse_float=Decimal)  # as the body reader gives it
    assert _outcome(_REPAIR_ORDER_NUL_FREE[mode], raw) == _outcome(_REPAIR_ORDER[mode], raw)


def test_only_the_nul_checks_are_left_out():
    raw = {"repair_number": " R1", "customer": {"email": "not an address"}, "vehicle": {"vin": "short"}}
    for mode in BatchMode:
        assert _outcome(_REPAIR_ORDER_NUL_FREE[mode], raw) == _outcome(_REPAIR_ORDER[mode], raw)
        assert _outcome(_REPAIR_ORDER_NUL_FREE[mode], raw)[0] == "refused"


def test_a_nul_escape_is_seen_and_refused_wherever_it_is():
    body = [
        {
            "shop_id": 33,
            "repair_orders": [{"repair_number": "R1", "repair_team": [{"id": "E1", "title": "a\u0000"}]}],
        }
    ]
    raw = json.dumps(body).encode()
    assert body_may_hold_nul(raw)
    parsed = validate_batch(json.loads(raw), mode=BatchMode.CREATE, nul_free=not body_may_hold_nul(raw))
    assert [e.pointer for e in parsed.errors] == ["/0/repair_orders/0/repair_team/0/title"]


def test_a_body_without_the_escape_cannot_hold_a_nul():
    assert body_may_hold_nul(json.dumps(["\\u0000"]).encode())  # an escaped backslash: checked, to be safe
    assert not body_may_hold_nul(json.dumps(["\u00e9\u2028"]).encode())
    with pytest.raises(json.JSONDecodeError):  # a raw NUL is not JSON at all
        json.loads('["a\x00"]')
