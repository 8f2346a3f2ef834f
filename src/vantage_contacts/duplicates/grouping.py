"""Connected suggestions as groups, and one page of them.

A workspace of a million contacts stores about as many suggested pairs. The listing needs every
pair to know the groups and their order, but builds the answer for one page only: the pairs
stay plain tuples, and only the groups shown get their members and pairs collected.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# contact_a, contact_b, confidence, match_reason (contact_a < contact_b)
PairRow = tuple[str, str, float, str]


class Components:
    """Union-find over contact ids. The smaller root always wins, so every group's root is its
    smallest id: the tie-break of the listing's order comes for free."""

    __slots__ = ("parent",)

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def root(self, x: str) -> str:
        parent = self.parent
        while (up := parent[x]) != x:
            parent[x] = parent[up]  # path halving keeps the trees shallow
            x = parent[x]
        return x

    def join(self, a: str, b: str) -> None:
        parent = self.parent
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb

    def roots(self) -> dict[str, str]:
        """Every id's root, read once: later passes are then dictionary lookups."""
        return {x: self.root(x) for x in self.parent}


@dataclass(frozen=True, slots=True)
class ScoredPair:
    contact_a: str
    contact_b: str
    confidence: float
    match_reason: str


@dataclass(frozen=True, slots=True)
class Group:
    contact_ids: list[str]  # sorted
    pairs: list[ScoredPair]  # strongest first

    @property
    def best(self) -> ScoredPair:
        return self.pairs[0]


def components(edges: Iterable[tuple[str, str, float]]) -> list[list[str]]:
    """Connected components of the edges, strongest first (by best confidence, then smallest
    id); the ids in each are sorted."""
    edges = list(edges)
    page, _ = page_of([(a, b, c, "") for a, b, c in edges], 0, len(edges))
    return [g.contact_ids for g in page]


def page_of(pairs: Sequence[PairRow], offset: int, limit: int) -> tuple[list[Group], int]:
    """Groups `offset` to `offset + limit` of the pairs' connected components, strongest first
    (by best confidence, then smallest id), and how many groups there are."""
    union = Components()
    for a, b, _, _ in pairs:
        if a != b:
            union.join(a, b)
    root_of = union.roots()
    best: dict[str, float] = {}
    for a, b, confidence, _ in pairs:
        if a == b:
            continue
        r = root_of[a]
        if confidence > best.get(r, -1.0):
            best[r] = confidence
    shown = heapq.nsmallest(offset + limit, best, key=lambda r: (-best[r], r))[offset:]
    members: dict[str, list[str]] = {r: [] for r in shown}
    found: dict[str, list[ScoredPair]] = {r: [] for r in shown}
    if shown:
        for x, r in root_of.items():
            if r in members:
                members[r].append(x)
        for a, b, confidence, reason in pairs:
            if a != b and (r := root_of[a]) in found:
                found[r].append(ScoredPair(a, b, confidence, reason))
    groups = [
        Group(
            sorted(members[r]),
            sorted(found[r], key=lambda p: (-p.confidence, p.contact_a, p.contact_b)),
        )
        for r in shown
    ]
    return groups, len(best)
