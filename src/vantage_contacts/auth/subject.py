"""The tenant a request acts in and the actor it acts as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["live", "test"]
ActorType = Literal["api_key", "portal", "system"]


@dataclass(frozen=True, slots=True)
class Tenant:
    """One workspace in one mode: the unit every query is scoped to."""

    workspace_id: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: str | None = None

    def wire(self) -> dict[str, str | None]:
        return {"type": self.type, "id": self.id}


SYSTEM = Actor("system")


@dataclass(frozen=True, slots=True)
class Subject:
    """An authenticated caller: the tenant it may touch and who it is."""

    tenant: Tenant
    actor: Actor
