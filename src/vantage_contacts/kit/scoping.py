"""Tenant scoping in one place: every repository query starts from these conditions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_

from vantage_contacts.auth.subject import Tenant


def in_tenant(table: Table, tenant: Tenant) -> ColumnElement[bool]:
    return and_(table.c.workspace_id == tenant.workspace_id, table.c.mode == tenant.mode)


def tenant_values(tenant: Tenant) -> dict[str, Any]:
    return {"workspace_id": tenant.workspace_id, "mode": tenant.mode}


def like_pattern(term: str) -> str:
    """`%term%` with LIKE's own wildcards escaped (used with ESCAPE '\\')."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
