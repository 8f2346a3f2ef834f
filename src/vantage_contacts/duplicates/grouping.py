"""Connected suggestions as groups, and one page of them.

A group is a connected component of the suggested pairs. In a large workspace namesakes chain
(Jon Smith ~ John Smith ~ J. Smith ~ Joan Smith ...): in a generated workspace of a million
contacts one component held 285,000 of them, no group a person could review. A component of more
than MAX_GROUP contacts is therefore split into stars (center clustering, as in Hassanzadeh et
al., "Framework for evaluating clustering algorithms in duplicate detection", VLDB 2009): pairs
strongest first, a pair of two contacts in no group makes one with the first as its center, a
contact in no group joins the center it is paired with; a contact no star took joins the group
of its strongest partner. Every contact of a group is then paired with its center, or with a
member of it.

A workspace of a million contacts stores millions of suggested pairs. The listing needs every
pair to know the groups and their order, but builds the answer for one page only: the work on
all pairs runs in numpy and scipy, and only the groups shown become Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# contact_a, contact_b, confidence, match_reason (contact_a < contact_b)
PairRow = tuple[str, str, float, str]
MAX_GROUP = 50  # contacts: a larger component is split into stars


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
    """Groups `offset` to `offset + limit`, strongest first (by best confidence, then smallest
    id), and how many groups there are."""
    pairs = [p for p in pairs if p[0] != p[1]]
    if not pairs:
        return [], 0
    number: dict[str, int] = {}
    a = np.fromiter((number.setdefault(p[0], len(number)) for p in pairs), np.int64, len(pairs))
    b = np.fromiter((number.setdefault(p[1], len(number)) for p in pairs), np.int64, len(pairs))
    confidence = np.fromiter((p[2] for p in pairs), np.float64, len(pairs))
    ids = np.array(list(number), dtype=str)
    rank = np.empty(len(ids), np.int64)  # each id's place in id order
    rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    edges = coo_matrix((np.ones(len(pairs), np.int8), (a, b)), shape=(len(ids), len(ids)))
    _, label = connected_components(edges, directed=False)
    label = _split_large(label, a, b, confidence, rank)
    count = int(label.max()) + 1
    inside = np.flatnonzero(label[a] == label[b])  # the pairs within a group
    best = np.full(count, -1.0)
    np.maximum.at(best, label[a[inside]], confidence[inside])
    first = np.full(count, len(ids))  # each group's smallest id, by its place
    np.minimum.at(first, label, rank)
    order = np.lexsort((first, -best))  # best confidence first, then smallest id
    shown = order[offset : offset + limit]
    place = {int(group): i for i, group in enumerate(shown)}
    members: list[list[str]] = [[] for _ in shown]
    for i in np.flatnonzero(np.isin(label, shown)):
        members[place[int(label[i])]].append(str(ids[i]))
    found: list[list[ScoredPair]] = [[] for _ in shown]
    for i in inside[np.isin(label[a[inside]], shown)]:
        first_id, second_id, value, reason = pairs[i]
        found[place[int(label[a[i]])]].append(ScoredPair(first_id, second_id, value, reason))
    groups = [
        Group(
            sorted(ids_in_group),
            sorted(group_pairs, key=lambda p: (-p.confidence, p.contact_a, p.contact_b)),
        )
        for ids_in_group, group_pairs in zip(members, found, strict=True)
    ]
    return groups, count


def _split_large(
    label: np.ndarray, a: np.ndarray, b: np.ndarray, confidence: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Group labels (0, 1, ... with no gap) with every component of more than MAX_GROUP
    contacts split into stars."""
    large = np.flatnonzero(np.bincount(label) > MAX_GROUP)
    if len(large):
        label = label.copy()
        inside = np.flatnonzero(np.isin(label[a], large))
        # Strongest first; ties by the two ids, so the split is the same on every request.
        by_strength = inside[np.lexsort((rank[b[inside]], rank[a[inside]], -confidence[inside]))]
        center: dict[int, int] = {}  # contact -> its group's center (a center is its own)
        partner: dict[int, int] = {}  # a contact no star took yet -> its strongest partner
        for u, v in zip(a[by_strength].tolist(), b[by_strength].tolist(), strict=True):
            cu, cv = center.get(u), center.get(v)
            if cu is None and cv is None:
                center[u] = center[v] = u
            elif cu is None and cv == v:
                center[u] = v
            elif cv is None and cu == u:
                center[v] = u
            elif cu is None:
                partner.setdefault(u, v)
            elif cv is None:
                partner.setdefault(v, u)
        for contact, other in partner.items():
            center.setdefault(contact, center[other])
        split = np.fromiter(center, np.int64, len(center))
        label[split] = label.max() + 1 + np.fromiter(center.values(), np.int64, len(center))
    return np.unique(label, return_inverse=True)[1]
