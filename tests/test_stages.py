from repairs.models import Stage


def test_stages_are_seeded_in_board_order_with_15_before_14(db):
    rows = list(Stage.objects.order_by("position").values_list("position", "id", "name"))
    assert len(rows) == 15
    assert [r[1] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 14]
    assert rows[13] == (14, 15, "DELIVERY UNCONFIRMED")
    assert rows[14] == (15, 14, "DELIVERED/CLOSED")
