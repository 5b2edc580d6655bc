"""The batch API's one write pipeline (SPEC §3), from parsed input to rows.

    parse   integrations/api/parsing.py   bytes -> JSON -> shape problems (RFC 6901 pointers)
                                          + ShopBatch input (inputs.py; fields.columns_sent)
    check   checks.py                     data problems: unknown shops, taken / unknown numbers
    lock    services.py                   PATCH: the named ROs, in id order; people, in id order
    plan    services.py, fields.py,       columns to write (defaults on POST, kept on PATCH),
            ../people.py                  people's merged fields, team links
    write   sql.py                        one statement per table

Import the pipeline's names from here.
"""

from .checks import BatchProblem, BatchRejected, ProblemCode, batch_problems_find
from .inputs import BatchMode, RepairOrderInput, ShopBatch, TeamMemberInput, WrittenRepairOrder
from .services import repair_orders_create, repair_orders_update

__all__ = [
    "BatchMode",
    "BatchProblem",
    "BatchRejected",
    "ProblemCode",
    "RepairOrderInput",
    "ShopBatch",
    "TeamMemberInput",
    "WrittenRepairOrder",
    "batch_problems_find",
    "repair_orders_create",
    "repair_orders_update",
]
