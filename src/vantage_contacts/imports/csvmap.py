"""From CSV rows to create bodies: which column is which field, and cell values to JSON values."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vantage_contacts.contacts.schemas import ContactCreate

FIELDS = tuple(ContactCreate.model_fields)
BOOLEAN_FIELDS = {
    name for name, info in ContactCreate.model_fields.items() if "bool" in str(info.annotation)
}
_TRUE = {"true", "yes", "y", "1", "t", "x"}
_FALSE = {"false", "no", "n", "0", "f"}
_NOT_WORD = re.compile(r"[^a-z0-9]+")

# Usual header spellings (after lowercasing and reducing punctuation to spaces) → field.
ALIASES = {
    "full name": "name",
    "contact name": "name",
    "contact": "name",
    "e mail": "email",
    "email address": "email",
    "mail": "email",
    "phone number": "phone",
    "office phone": "phone",
    "work phone": "phone",
    "telephone": "phone",
    "tel": "phone",
    "mobile phone": "mobile",
    "cell": "mobile",
    "cell phone": "mobile",
    "job title": "title",
    "position": "title",
    "dept": "department",
    "primary": "is_primary",
    "billing": "is_billing",
    "technical": "is_technical",
    "portal": "portal_access",
    "client": "client_id",
    "client id": "client_id",
}


# A spreadsheet opening a CSV runs a cell that starts with one of these as a formula (CSV
# injection): export writes such cells behind an apostrophe, which spreadsheets hide and
# import takes off again. A cell of digits and phone punctuation only ("+1 555 010 9999")
# cannot form a formula that does harm, so phone numbers are written as they are.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9 ().-]*")


def formula_safe(text: str) -> str:
    """The cell as export writes it. A value that already starts with apostrophes before a
    formula character gets one more, so that import gives back exactly what was stored."""
    bare = text.lstrip("'")
    if bare.startswith(FORMULA_STARTS) and (bare != text or not _PLAIN_NUMBER.fullmatch(text)):
        return "'" + text
    return text


def from_formula_safe(text: str) -> str:
    """The value behind a cell export made formula-safe (one apostrophe taken off)."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS):
        return text[1:]
    return text


def header_key(header: str) -> str:
    return _NOT_WORD.sub(" ", header.strip().lower()).strip()


class MappingError(ValueError):
    """The columns cannot be mapped (unknown field, no name column, …)."""


@dataclass(frozen=True, slots=True)
class ColumnMap:
    fields: dict[int, str]  # column index → create field
    client_column: int | None

    @classmethod
    def build(
        cls,
        header: Sequence[str],
        overrides: Mapping[str, str] | None = None,
        client_column: str | None = None,
    ) -> ColumnMap:
        """Columns named like fields (or their usual aliases) map to them; `overrides` maps a
        header to a field (or to "" to skip it)."""
        by_key = {header_key(h): i for i, h in enumerate(header)}
        named_twice = {key for key, n in Counter(map(header_key, header)).items() if n > 1}

        def column_named(text: str) -> int:
            """A column the mapping or client_column names: it must be there, and once."""
            key = header_key(text)
            if key not in by_key:
                raise MappingError(f"The file has no column {text!r}.")
            if key in named_twice:
                raise MappingError(f"The file has more than one column named {text!r}.")
            return by_key[key]

        fields: dict[int, str] = {}
        for i, text in enumerate(header):
            key = header_key(text)
            name = key.replace(" ", "_")
            if name in FIELDS:
                fields[i] = name
            elif key in ALIASES:
                fields[i] = ALIASES[key]
        for column, field in (overrides or {}).items():
            index = column_named(column)
            if not field:
                fields.pop(index, None)
            elif field not in FIELDS:
                raise MappingError(f"Unknown field {field!r}; use one of: {', '.join(FIELDS)}.")
            else:
                fields[index] = field
        client_index = None
        if client_column is not None:
            client_index = column_named(client_column)
            fields.pop(client_index, None)
        if "name" not in fields.values():
            raise MappingError("No column maps to 'name' (map one with Header=name).")
        _refuse_shared_fields(header, fields)
        return cls(fields, client_index)

    def ignored(self, header: Sequence[str]) -> list[str]:
        """The named columns no field reads: said back, so a misspelt header is noticed."""
        used = {*self.fields, self.client_column}
        return [text for i, text in enumerate(header) if i not in used and text.strip()]


def cell_value(field: str, text: str) -> Any:
    """A cell as the JSON value the create body expects; unreadable booleans stay text, so
    validation reports them."""
    if field in BOOLEAN_FIELDS:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return from_formula_safe(text.strip())


def item(row: Sequence[str], columns: ColumnMap, client_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for index, field in columns.fields.items():
        if index < len(row) and row[index].strip():
            body[field] = cell_value(field, row[index])
    if client_id is not None:
        body["client_id"] = client_id
    return body


def read_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a CSV text (empty lines skipped)."""
    header, rows, _ = read_numbered_rows(text)
    return header, rows


def read_numbered_rows(text: str) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the data rows, and the line each row starts on: skipped empty lines and
    cells spanning lines make a row's index a poor guide to where it is in the file."""
    if "\x00" in text:
        # PostgreSQL text cannot hold it, and no spreadsheet writes it: a binary file.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise MappingError(f"Line {line} holds a NUL character: the file is not CSV text.")
    # Strict: an unclosed quote would otherwise swallow every line after it into one cell.
    reader = csv.reader(io.StringIO(text), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        header = next(reader, None)
        if not header:
            raise MappingError("The file is empty.")
        end = reader.line_num  # the line the previous record ended on
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(end + 1)
            end = reader.line_num
    except csv.Error as error:
        raise MappingError(
            f"The file is not valid CSV: {error} (line {reader.line_num})."
        ) from None
    return header, rows, lines


def _refuse_shared_fields(header: Sequence[str], fields: Mapping[int, str]) -> None:
    """Two columns read into one field: one of them would be lost without a word."""
    column_of: dict[str, int] = {}
    for index, field in sorted(fields.items()):
        if field in column_of:
            first = header[column_of[field]]
            raise MappingError(
                f"Columns {first!r} and {header[index]!r} both map to {field!r}; "
                f"skip one (Header=) or map it to another field."
            )
        column_of[field] = index
