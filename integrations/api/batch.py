"""AutoSpot Batch API: POST and PATCH /api/v1/repair-orders (SPEC §3).

The view parses and validates the whole body, asks the domain for the data
problems, and answers every problem at once; otherwise one service call
writes the batch in one transaction. `batch_handle` always returns a
response (problems included), so request-level wrappers such as
Idempotency-Key replay or rate limiting can wrap the views as plain
`request -> HttpResponse` functions.
"""

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Router

from integrations.idempotency import Fresh, Replay, idempotency_claim, idempotency_store, request_fingerprint
from repairs.batch import (
    BatchMode,
    BatchProblem,
    BatchRejected,
    WrittenRepairOrder,
    batch_problems_find,
    repair_orders_create,
    repair_orders_update,
)

from .auth import api_key_auth, key_shop_ids
from .body import read_json_body
from .openapi import json_request_body
from .parsing import check_repair_order_count, validate_batch
from .problems import PROBLEM_CONTENT_TYPE, ApiProblem, ErrorItem, json_pointer, problem_from
from .render import json_response
from .schemas import BODY_PROBLEMS, BatchCreateIn, BatchOut, BatchUpdateIn

router = Router(tags=["Batch"], auth=api_key_auth)


@router.post(
    "/repair-orders",
    response={201: BatchOut, **BODY_PROBLEMS},
    summary="Create repair orders",
    openapi_extra=json_request_body(
        BatchCreateIn, "Shop entries, each with the ROs to create. Every field but repair_number is optional."
    ),
)
def repair_orders_post(request: HttpRequest) -> HttpResponse:
    """All or nothing: any problem answers 422 listing every problem, and nothing is saved."""
    return idempotent(request, lambda: batch_handle(request, mode=BatchMode.CREATE))


@router.patch(
    "/repair-orders",
    response={200: BatchOut, **BODY_PROBLEMS},
    summary="Update repair orders",
    openapi_extra=json_request_body(
        BatchUpdateIn,
        "Shop entries, each with the ROs to change: repair_number plus only the fields to change. "
        "Nested objects merge field by field, null clears a field, repair_team replaces the team.",
    ),
)
def repair_orders_patch(request: HttpRequest) -> HttpResponse:
    """All or nothing, like POST. Never changes an RO's stage."""
    return idempotent(request, lambda: batch_handle(request, mode=BatchMode.UPDATE))


IDEMPOTENCY_HEADER = "Idempotency-Key"
_MAX_IDEMPOTENCY_KEY_LENGTH = 255


def idempotent(request: HttpRequest, handle) -> HttpResponse:
    """Answer a retry carrying the same Idempotency-Key with the first answer.

    The key is claimed in the same transaction as the batch's writes, so the
    stored answer and the data commit together; a 5xx rolls both back and the
    retry is processed anew. A second request with the key waits for the
    first to commit (unique index), then replays it.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return handle()
    if not 1 <= len(key) <= _MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        return problem_from(
            request,
            ApiProblem(
                422,
                [
                    ErrorItem(
                        "validation_error",
                        f"{IDEMPOTENCY_HEADER} must be 1 to {_MAX_IDEMPOTENCY_KEY_LENGTH} printable characters.",
                        parameter=IDEMPOTENCY_HEADER,
                    )
                ],
            ),
        )
    with transaction.atomic():
        claim = idempotency_claim(
            api_key_id=request.auth.id,
            method=request.method,
            key=key,
            fingerprint=request_fingerprint(request.method, request.path, request.body),
        )
        if isinstance(claim, Replay):
            content_type = PROBLEM_CONTENT_TYPE if claim.status_code >= 400 else "application/json"
            response = HttpResponse(claim.body, status=claim.status_code, content_type=content_type)
            response["Idempotent-Replayed"] = "true"
            return response
        if not isinstance(claim, Fresh):
            return problem_from(
                request,
                ApiProblem(
                    422,
                    [
                        ErrorItem(
                            "idempotency_key_reused",
                            f"This {IDEMPOTENCY_HEADER} was used with a different request in the last 24 hours.",
                            parameter=IDEMPOTENCY_HEADER,
                        )
                    ],
                ),
            )
        response = handle()
        if response.status_code >= 500:
            transaction.set_rollback(True)
            return response
        idempotency_store(record_id=claim.record_id, status_code=response.status_code, body=response.content)
        return response


def batch_handle(request: HttpRequest, *, mode: BatchMode) -> HttpResponse:
    try:
        body = read_json_body(request)
        check_repair_order_count(body)
        parsed = validate_batch(body, mode=mode)
        del body  # parsed JSON is ~5× the request body; from here on only `parsed` is needed
        scope = key_shop_ids(request)
        if parsed.errors:
            problems = batch_problems_find(
                mode=mode, shop_entries=parsed.shop_entries, shop_ids_allowed=scope
            )
            raise _unprocessable(parsed.errors, problems)
        write = repair_orders_create if mode is BatchMode.CREATE else repair_orders_update
        try:
            repair_orders = write(shop_entries=parsed.shop_entries, shop_ids_allowed=scope)
        except BatchRejected as rejected:
            raise _unprocessable([], rejected.problems) from None
    except ApiProblem as problem:
        return problem_from(request, problem)
    return json_response(_batch_out(repair_orders), status=201 if mode is BatchMode.CREATE else 200)


def _batch_out(repair_orders: list[WrittenRepairOrder]) -> dict:
    """The BatchOut document (its fields, in its order) as plain data: the same
    JSON as 1,000 BatchItemOut models, for less (docs/bench.md)."""
    return {
        "count": len(repair_orders),
        "repair_orders": [
            {"shop_id": ro.shop_id, "repair_number": ro.repair_number, "stage_id": ro.stage_id}
            for ro in repair_orders
        ],
    }


def _position(pointer: str) -> tuple[int, int]:
    """(shop entry, RO) a pointer falls in, to list problems in request order."""
    tokens = pointer.split("/")[1:]
    shop = int(tokens[0]) if tokens and tokens[0].isdigit() else -1
    ro = int(tokens[2]) if len(tokens) > 2 and tokens[1] == "repair_orders" and tokens[2].isdigit() else -1
    return shop, ro


def _unprocessable(errors: list[ErrorItem], problems: list[BatchProblem]) -> ApiProblem:
    items = errors + [
        ErrorItem(
            str(p.code),
            p.detail,
            pointer=json_pointer(p.shop_index, p.field)
            if p.ro_index is None
            else json_pointer(p.shop_index, "repair_orders", p.ro_index, p.field),
        )
        for p in problems
    ]
    items.sort(key=lambda item: _position(item.pointer or ""))  # stable: schema problems first
    count = len(items)
    return ApiProblem(422, items, detail=f"{count} problem{'' if count == 1 else 's'}; nothing was saved.")
