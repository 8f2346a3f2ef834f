"""JSON responses serialised with orjson: the hot paths skip response-model validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def single(data: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> JSONBody:
    """`{"data": {...}}` for one object."""
    return JSONBody({"data": data}, status_code=status_code, headers=headers)


def listing(data: list[Any], page: int, per_page: int, total: int, **extra: Any) -> JSONBody:
    """`{"data": [...], "pagination": {...}}` for one page of a list."""
    total_pages = (total + per_page - 1) // per_page
    body = {
        "data": data,
        "pagination": {
            "page": page,
            "per_page": per_page,
            "total": total,
            "total_pages": total_pages,
        },
        **extra,
    }
    return JSONBody(body)
