"""GET /api/v1/health: for load balancers and uptime checks, no key needed."""

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from ninja import Router

from .problems import ErrorItem, problem_response
from .render import json_response
from .schemas import HealthOut, ProblemOut

logger = logging.getLogger(__name__)

router = Router(tags=["Health"])


@router.get("/health", auth=None, response={200: HealthOut, 503: ProblemOut}, summary="Health")
def health_get(request: HttpRequest) -> HttpResponse:
    """200 when the database answers, else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("Health check: database unreachable")
        return problem_response(
            request, 503, [ErrorItem("database_unavailable", "The database does not answer.")]
        )
    return json_response({"status": "ok", "database": "ok"})
