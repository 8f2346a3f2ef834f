"""`column IN (values)` with the values in one bound parameter, however many there are.

An IN list has one parameter per value: SQLAlchemy renders the statement again for every new
count (a large share of a bulk create's time went there), PostgreSQL plans each shape anew, and
SQLite refuses more than 32,766 of them. One array (PostgreSQL) or one JSON text (SQLite)
keeps the statement text fixed, so it is compiled and prepared once.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection


def among(
    conn: AsyncConnection, column: ColumnElement[Any], values: Collection[str]
) -> ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(Text)))
    listed = func.json_each(bindparam(None, orjson.dumps(list(values)).decode(), type_=Text))
    return column.in_(select(listed.table_valued("value").c.value))
