"""Duplicates over the database: keys kept on write, candidates by shared keys, pairs scored
by the worker and stored, so listing is a read even for a million contacts."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.duplicates import grouping, matching, repository
from vantage_contacts.kit.clock import utcnow

# Pairs below this are not worth storing (listing's min_confidence goes no lower).
STORE_MIN = 0.2
GUARD_MIN = 0.5  # what a create answer mentions as possible duplicates


def person(row: Mapping[Any, Any]) -> matching.Person:
    """Phones go in as E.164 where known, so matching does not depend on a region."""
    return matching.Person(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        phone=row.get("phone_e164") or row["phone"],
        mobile=row.get("mobile_e164") or row["mobile"],
        client_id=row["client_id"],
    )


# Keys computed lately, by person: a create stores them, then the create-time guard looks up
# the contacts holding them, and computing them is a large share of a create's work.
# An OrderedDict: dropping the oldest of a plain dict (`next(iter(d))`) walks past every slot
# deleted since the dict last resized, thousands of them between resizes.
_KNOWN_KEYS: OrderedDict[matching.Person, frozenset[str]] = OrderedDict()
KNOWN_KEYS_MAX = 8192


def keys_of(person: matching.Person) -> frozenset[str]:
    """A contact's blocking keys."""
    keys = _KNOWN_KEYS.get(person)
    if keys is None:
        keys = frozenset(matching.blocking_keys(person))
        remember_keys(person, keys)
    return keys


def remember_keys(person: matching.Person, keys: frozenset[str]) -> None:
    """Keys computed elsewhere (an import prepares its rows in a helper process)."""
    if person in _KNOWN_KEYS:
        return
    if len(_KNOWN_KEYS) >= KNOWN_KEYS_MAX:
        _KNOWN_KEYS.popitem(last=False)  # the oldest
    _KNOWN_KEYS[person] = keys


async def on_written(
    conn: AsyncConnection, tenant: Tenant, rows: Sequence[Mapping[Any, Any]], *, new: bool = False
) -> None:
    """New or changed contacts: fresh blocking keys now, their pairs scored by the worker."""
    if not rows:
        return
    await repository.replace_keys(
        conn, tenant, {row["id"]: keys_of(person(row)) for row in rows}, new=new
    )
    await repository.queue_checks(conn, tenant, [row["id"] for row in rows], utcnow(), new=new)


async def on_removed(conn: AsyncConnection, tenant: Tenant, contact_ids: Sequence[str]) -> None:
    await repository.forget(conn, tenant, contact_ids)


def ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


Found = dict[str, list[tuple[matching.Person, matching.Match]]]


@dataclass(frozen=True, slots=True)
class Candidates:
    """Who each person is to be compared with, read from the database; scoring them needs no
    database, so it can run while the connection does other work."""

    people: Sequence[matching.Person]
    wanted: dict[str, set[str]]  # person id -> candidate ids
    others: dict[str, matching.Person]  # every candidate, by id
    dismissed: set[tuple[str, str]]

    def score(self, people: Sequence[matching.Person], min_confidence: float) -> Found:
        found: Found = {}
        for p in people:
            scored = []
            for other_id in self.wanted[p.id]:
                other = self.others.get(other_id)
                if other is None or ordered(p.id, other_id) in self.dismissed:
                    continue
                match = matching.score(p, other)
                if match is not None and match.confidence >= min_confidence:
                    scored.append((other, match))
            found[p.id] = sorted(scored, key=lambda item: (-item[1].confidence, item[0].id))
        return found

    async def score_between_awaits(self, min_confidence: float, slice_size: int = 10) -> Found:
        """`score` in slices with a turn of the event loop between them: run beside the inserts
        of the same batch, the scoring fills the time they spend waiting on the database."""
        found: Found = {}
        for start in range(0, len(self.people), slice_size):
            found |= self.score(self.people[start : start + slice_size], min_confidence)
            await asyncio.sleep(0)
        return found


async def gather_candidates(
    conn: AsyncConnection,
    tenant: Tenant,
    people: Sequence[matching.Person],
    *,
    each_pair_once: bool = False,
) -> Candidates:
    """For each person, the live contacts sharing a blocking key with it. A few queries for the
    whole batch, whatever its size. The people need not be stored yet (the create-time guard
    runs before their keys are written): they are compared with each other too.

    `each_pair_once` (the worker's scan) skips pairs another check will score anyway: a pair
    within the batch is scored from one side, and a contact still queued will score its own.
    """
    keys = {p.id: keys_of(p) for p in people}
    stored, crowded = await repository.sharing_keys(
        conn, tenant, set().union(*keys.values()), matching.MAX_BLOCK
    )
    holders: dict[str, set[str]] = {key: set(ids) for key, ids in stored.items()}
    for p in people:
        for key in keys[p.id] - crowded:
            holders.setdefault(key, set()).add(p.id)
    usable = {key: ids for key, ids in holders.items() if len(ids) <= matching.MAX_BLOCK}
    wanted = {p.id: {c for k in keys[p.id] for c in usable.get(k, ())} - {p.id} for p in people}
    if each_pair_once:
        batch = {p.id for p in people}
        queued = await repository.queued_among(conn, tenant, set().union(*wanted.values()) - batch)
        for p in people:
            wanted[p.id] = {o for o in wanted[p.id] - queued if o not in batch or o > p.id}
    batch_people = {p.id: p for p in people}
    stored_ids = set().union(*wanted.values()) - batch_people.keys()
    others = {
        row["id"]: person(row) for row in await repository.live_contacts(conn, tenant, stored_ids)
    }
    others.update(batch_people)
    dismissed = await repository.dismissed_for(conn, tenant, [p.id for p in people])
    return Candidates(people, wanted, others, dismissed)


async def candidates(
    conn: AsyncConnection,
    tenant: Tenant,
    people: Sequence[matching.Person],
    min_confidence: float,
    *,
    each_pair_once: bool = False,
) -> Found:
    """For each person, the live contacts sharing a blocking key with it, scored, best first."""
    gathered = await gather_candidates(conn, tenant, people, each_pair_once=each_pair_once)
    return gathered.score(people, min_confidence)


def suggestion(match: matching.Match) -> dict[str, Any]:
    return {
        "confidence": match.confidence,
        "match_reason": match.match_reason,
        "reasons": [
            {"reason": r.reason, "field": r.field, "score": round(r.score, 3)}
            for r in match.reasons
        ],
    }


async def guard_candidates(
    conn: AsyncConnection, tenant: Tenant, rows: Sequence[Mapping[Any, Any]]
) -> Candidates:
    """The create-time guard's reads. A batch makes them before its rows are inserted, so the
    rows' own keys, which it compares in memory, are not read back."""
    return await gather_candidates(conn, tenant, [person(r) for r in rows])


Scorer = Callable[[Candidates, float], Awaitable[Found]]


async def score_in_loop(gathered: Candidates, min_confidence: float) -> Found:
    return await gathered.score_between_awaits(min_confidence)


async def possible_duplicates(
    gathered: Candidates, scorer: Scorer = score_in_loop
) -> dict[str, list[dict[str, Any]]]:
    """What a create answer says beside `data`: likely duplicates of each new contact. An
    import hands the scoring to its helper process (`scorer`)."""
    found = await scorer(gathered, GUARD_MIN)
    return {
        contact_id: [
            {"id": other.id, "confidence": m.confidence, "match_reason": m.match_reason}
            for other, m in matches
        ]
        for contact_id, matches in found.items()
    }


async def run_checks(conn: AsyncConnection, limit: int = 200) -> int:
    """Score the pairs of queued contacts again; how many contacts were checked."""
    checks = await repository.take_checks(conn, limit)
    by_tenant: dict[Tenant, list[Mapping[Any, Any]]] = {}
    for check in checks:
        by_tenant.setdefault(Tenant(check["workspace_id"], check["mode"]), []).append(check)
    for tenant, tenant_checks in by_tenant.items():
        contact_ids = [check["contact_id"] for check in tenant_checks]
        rows = await repository.live_contacts(conn, tenant, contact_ids)
        people = [person(r) for r in rows]
        await _refresh_keys(conn, tenant, people)
        await repository.delete_pairs(conn, tenant, contact_ids)
        found = await candidates(conn, tenant, people, STORE_MIN, each_pair_once=True)
        pairs: dict[tuple[str, str], matching.Match] = {}
        for contact_id, matches in found.items():
            for other, match in matches:
                pairs[ordered(contact_id, other.id)] = match
        await repository.insert_pairs(
            conn,
            [
                {
                    "workspace_id": tenant.workspace_id,
                    "mode": tenant.mode,
                    "contact_a": a,
                    "contact_b": b,
                    "confidence": match.confidence,
                    "match_reason": match.match_reason,
                    "reasons": suggestion(match)["reasons"],
                }
                for (a, b), match in pairs.items()
            ],
        )
        await repository.done_checks(conn, tenant, tenant_checks)
    return len(checks)


async def _refresh_keys(
    conn: AsyncConnection, tenant: Tenant, people: Sequence[matching.Person]
) -> None:
    """A contact stored before the keys changed (a new release of the matching engine, whose
    migration queues every contact) gets the keys of this one. Only those: the keys of a
    contact queued by a write are fresh already, and rewriting them all would double the key
    writes of a scan."""
    fresh = {p.id: keys_of(p) for p in people}
    stored = await repository.stored_keys(conn, tenant, list(fresh))
    stale = {cid: keys for cid, keys in fresh.items() if stored.get(cid, set()) != keys}
    await repository.replace_keys(conn, tenant, stale)


def _contact(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {field: row[field] for field in ("id", "name", "email", "phone", "mobile", "client_id")}


def group_wire(
    group: grouping.Group,
    contacts: Mapping[str, Mapping[Any, Any]],
    reasons: Mapping[tuple[str, str], Any],
) -> dict[str, Any]:
    return {
        "contacts": [_contact(contacts[cid]) for cid in group.contact_ids if cid in contacts],
        "match_reason": group.best.match_reason,
        "confidence": group.best.confidence,
        "pairs": [
            {
                "contact_ids": [p.contact_a, p.contact_b],
                "confidence": p.confidence,
                "match_reason": p.match_reason,
                "reasons": reasons.get((p.contact_a, p.contact_b), []),
            }
            for p in group.pairs
        ],
    }


@dataclass(frozen=True, slots=True)
class GroupPage:
    groups: list[dict[str, Any]]
    total: int


async def stored_groups(
    conn: AsyncConnection,
    tenant: Tenant,
    min_confidence: float,
    client_id: str | None,
    offset: int,
    limit: int,
) -> GroupPage:
    """One page of the groups the worker's stored pairs make (`GET /v1/contacts/duplicates`).
    Every pair is read to group them (a page needs its groups' order), but only ids and
    scores: the contacts and the reasons are read for the page alone."""
    pairs = await repository.scored_pairs(conn, tenant, min_confidence, client_id)
    shown, total = grouping.page_of(pairs, offset, limit)
    wanted = [(p.contact_a, p.contact_b) for g in shown for p in g.pairs]
    reasons = await repository.pair_reasons(conn, tenant, wanted)
    return GroupPage(await _wire_groups(conn, tenant, shown, reasons), total)


async def fresh_groups(
    conn: AsyncConnection,
    tenant: Tenant,
    contact: Mapping[Any, Any],
    min_confidence: float,
    client_id: str | None,
    offset: int,
    limit: int,
) -> GroupPage:
    """The candidates of one contact, scored now (what an integrator asks before creating)."""
    if client_id is not None and contact["client_id"] != client_id:
        return GroupPage([], 0)
    found = await candidates(conn, tenant, [person(contact)], min_confidence)
    pairs: list[grouping.PairRow] = []
    reasons: dict[tuple[str, str], Any] = {}
    for other, match in found[contact["id"]]:
        if client_id is not None and other.client_id != client_id:
            continue
        a, b = ordered(contact["id"], other.id)
        pairs.append((a, b, match.confidence, match.match_reason))
        reasons[(a, b)] = suggestion(match)["reasons"]
    shown, total = grouping.page_of(pairs, offset, limit)
    return GroupPage(await _wire_groups(conn, tenant, shown, reasons), total)


async def _wire_groups(
    conn: AsyncConnection,
    tenant: Tenant,
    groups: Sequence[grouping.Group],
    reasons: Mapping[tuple[str, str], Any],
) -> list[dict[str, Any]]:
    ids = {cid for g in groups for cid in g.contact_ids}
    rows = {r["id"]: r for r in await repository.live_contacts(conn, tenant, ids)}
    return [group_wire(g, rows, reasons) for g in groups]
