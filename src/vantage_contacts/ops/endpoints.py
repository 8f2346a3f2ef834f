from __future__ import annotations

from fastapi import APIRouter

from vantage_contacts.errors import ErrorBody, ServiceUnavailable
from vantage_contacts.kit.responses import JSONBody
from vantage_contacts.runtime import DB

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> JSONBody:
    """Answers as long as the process serves requests; touches nothing else."""
    return JSONBody({"status": "ok"})


@router.get(
    "/readyz",
    summary="The database is reachable",
    responses={503: {"model": ErrorBody, "description": "The database is unreachable."}},
)
async def readyz(db: DB) -> JSONBody:
    """Answers 200 when a query reaches the database, 503 otherwise."""
    try:
        await db.ping()
    except Exception:
        raise ServiceUnavailable("The database is unreachable.") from None
    return JSONBody({"status": "ready", "database": db.dialect})
