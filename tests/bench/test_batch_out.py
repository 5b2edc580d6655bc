"""The batch answer, built as plain data for speed, is exactly the BatchOut
document the OpenAPI schema promises."""

from integrations.api.batch import _batch_out
from integrations.api.schemas import BatchItemOut, BatchOut
from repairs.batch import WrittenRepairOrder


def test_batch_answer_is_the_batchout_document_in_request_order():
    written = [WrittenRepairOrder(7, 44, "B/2", 1), WrittenRepairOrder(3, 33, "606471", 9)]

    answer = _batch_out(written)

    expected = BatchOut(
        count=2,
        repair_orders=[
            BatchItemOut(shop_id=44, repair_number="B/2", stage_id=1),
            BatchItemOut(shop_id=33, repair_number="606471", stage_id=9),
        ],
    ).model_dump(mode="json")
    assert answer == expected
    assert list(answer) == list(expected)  # same key order: the same JSON text
    assert list(answer["repair_orders"][0]) == list(expected["repair_orders"][0])
