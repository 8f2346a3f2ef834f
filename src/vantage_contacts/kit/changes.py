"""What an update really changes: field → (old, new), for activity entries and events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def diff(current: Mapping[Any, Any], wanted: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        field: (current[field], value) for field, value in wanted.items() if current[field] != value
    }
