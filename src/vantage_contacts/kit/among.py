"""`column IN (values)` with the values in one bound parameter, however many there are.

An IN list has one parameter per value: SQLAlchemy renders the statement again for every new
count (a large share of a bulk create's time went there), PostgreSQL plans each shape anew, and
SQLite refuses more than 32,766 of them. One array (PostgreSQL) or one JSON text (SQLite)
keeps the statement text fixed, so it is compiled and prepared once.

`probe()` is for hot lookups of many values in a large table. PostgreSQL chooses the plan of
`= ANY(array)` from the table's statistics; a table that has grown since it was last analyzed
(a fresh one, or one filling during an import) gets a plan that reads every row of the
workspace for each request, so the cost grows with the table. A LATERAL join makes one index
probe per value, whatever the statistics say.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, Text, any_, bindparam, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection


def among(
    conn: AsyncConnection, column: ColumnElement[Any], values: Collection[str]
) -> ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(Text)))
    listed = func.json_each(bindparam(None, orjson.dumps(list(values)).decode(), type_=Text))
    return column.in_(select(listed.table_valued("value").c.value))


def probe(
    conn: AsyncConnection, query: Select[Any], column: ColumnElement[Any], values: Collection[str]
) -> Select[Any]:
    """`query` for the rows whose `column` is one of `values`, with the same result columns.

    On PostgreSQL each value is looked up on its own (a `LIMIT` in `query` then applies per
    value); SQLite's planner picks the index from the query's shape, so `among` does there.
    """
    if conn.dialect.name != "postgresql":
        return query.where(among(conn, column, values))
    wanted = (
        func.unnest(bindparam(None, list(values), type_=ARRAY(Text)))
        .table_valued("value")
        .render_derived(name="wanted")
    )
    # OFFSET 0 keeps PostgreSQL from folding the subquery into a plain join, which it would then
    # plan from the statistics again.
    found = query.where(column == wanted.c.value).offset(0).lateral("found")
    return select(*found.c).select_from(wanted.join(found, true()))
