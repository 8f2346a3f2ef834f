"""Duplicate matching: normal forms, blocking keys, calibrated pair scores, grouping.

Pure Python, no database: the service stores `blocking_keys()` of each contact on write, finds
candidates as the contacts sharing a key, and scores each candidate pair with `score()`.

- `match_keys()`: what a contact is compared by (canonical email, E.164 phones, folded name).
- `blocking_keys()`: short strings that two records of one person very likely share; each is
  specific enough that few unrelated people share it (a common first name alone never is one).
- `score()`: field similarities -> features -> a logistic model fitted offline on labelled
  generated contacts, then mapped through an isotonic table fitted on other generated contacts,
  so that `confidence` is the measured share of true duplicates among pairs scored alike
  (see `bench/fit_matching.py` and `bench/RESULTS.md`).
"""

from __future__ import annotations

import bisect
import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import OSA, JaroWinkler

from vantage_contacts.duplicates import (
    calibration,
    commonnames,
    fields,
    grouping,
    names,
    nicknames,
)
from vantage_contacts.duplicates.fields import EmailKeys
from vantage_contacts.duplicates.names import NameKeys

# A key shared by more contacts than this says too little to compare them all.
MAX_BLOCK = 100


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    email: str | None
    phone: str | None
    mobile: str | None
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    reason: str
    field: str
    score: float


@dataclass(frozen=True, slots=True)
class Match:
    confidence: float
    match_reason: str
    reasons: list[Reason]


@dataclass(frozen=True, slots=True)
class MatchKeys:
    name: NameKeys
    email: EmailKeys | None
    email_handle: str  # the local part's letters (`j.smith+x` -> `jsmith`); "" without email
    name_handles: frozenset[str]  # local parts this name is usually written as (jsmith, johns…)
    phones: tuple[tuple[str, str], ...]  # (field, E.164) of phone and mobile
    client_id: str | None


@lru_cache(maxsize=200_000)
def match_keys(person: Person, region: str = "US") -> MatchKeys:
    name = names.name_keys(person.name or "")
    email = fields.email_keys(person.email) if person.email else None
    phones: list[tuple[str, str]] = []
    for field, text in (("phone", person.phone), ("mobile", person.mobile)):
        number = fields.phone_key(text, region) if text else None
        if number and all(number != known for _, known in phones):
            phones.append((field, number))
    return MatchKeys(
        name=name,
        email=email,
        email_handle="".join(ch for ch in email.untagged if ch.isalpha()) if email else "",
        name_handles=_name_handles(name),
        phones=tuple(phones),
        client_id=person.client_id,
    )


def _name_handles(name: NameKeys) -> frozenset[str]:
    given, surname = name.given, name.surname
    if not surname or len(given) < 2:
        return frozenset()
    handles: set[str] = set()
    firsts = {given, *name.given_roots}
    for root in name.given_roots:
        firsts.update(nicknames.FORMAL_TO_NICKNAMES.get(root, ()))
    for first in firsts:
        handles.update((first + surname, surname + first, first + surname[0]))
    handles.update((given[0] + surname, surname + given[0]))
    return frozenset(handles)


def blocking_keys(person: Person) -> set[str]:
    """Keys two records of one person are likely to share; deterministic and cheap (~10 µs).

    `e:` canonical email, `l:` its local part (`jsmith` at another employer), `p:` last seven
    digits of each phone, `n:`/`m:`/`i:`/`t:` name keys (see `names.blocking_keys`), also for a
    name spelled by the email (`john.smith@`), `d:` surname at a company email domain.
    """
    keys = names.blocking_keys(person.name or "")
    name = names.name_keys(person.name or "")
    email = fields.email_keys(person.email) if person.email else None
    if email is not None:
        keys.add(f"e:{email.canonical}")
        if _distinctive(email.local):
            keys.add(f"l:{email.local}")
            spelled = fields.local_name_tokens(email)
            if spelled is not None:
                keys.update(k for k in names.blocking_keys(" ".join(spelled)) if k[0] == "n")
        if not email.freemail and name.surname:
            keys.add(f"d:{name.surname}@{email.domain}")
    for text in (person.phone, person.mobile):
        key = fields.phone_block_key(text) if text else None
        if key:
            keys.add(key)
    return keys


def _distinctive(local: str) -> bool:
    """Whether a local part says who someone is (`jsmith`), not just a first name (`susan`)."""
    return (
        len(local) >= 5
        and local not in fields.GENERIC_LOCALS
        and local not in commonnames.KNOWN
        and local not in nicknames.ROOTS
    )


# --- Pair comparison -------------------------------------------------------------------------

FEATURES: tuple[str, ...] = (
    "email_same",  # one mailbox once normalised
    "email_untagged",  # same domain, same local part but for a +tag
    "email_local",  # same local part at another domain
    "email_local_sim",  # similarity of the two local parts (hinged)
    "email_domain",  # same company domain
    "email_spells_name",  # one's address spells the other's name
    "emails_differ",  # both have an email, and none of the above ties them
    "phone_same",
    "phones_differ",
    "name_same",  # same tokens in any order
    "name_nickname",  # same but for a known nickname
    "given_sim",  # given names, best way round (hinged)
    "surname_sim",  # surnames, best way round (hinged)
    "given_edit1",  # given names one typo apart
    "surname_edit1",  # surnames one typo apart
    "name_initial",  # one given name is the other's initial
    "name_swapped",  # the names match given-for-surname
    "name_rarity",  # how rare the name is, when the names are close
    "name_far",  # how far apart the names are
    "one_token",  # one of the names is a single word
    "one_token_sim",  # its similarity to the closest token of the other (hinged)
    "one_token_rarity",  # how rare that one word is, when it matches
    "typo_rarity",  # how rare the name is, when each word is the same or one typo away
    "typo_unlisted",  # ...and a listed name's typo is a word no table lists (`zoe`, `zeo`)
    "client_same",
    "client_differ",
)


def _hinge(similarity: float, floor: float = 0.7) -> float:
    return max(0.0, similarity - floor) / (1.0 - floor)


def _given_similarity(a: str, b: str) -> tuple[float, str]:
    if a == b:
        return 1.0, "same"
    if nicknames.same_person_names(a, b):
        return 0.95, "nickname"
    if (len(a) == 1 or len(b) == 1) and a[:1] == b[:1]:
        return 0.85, "initial"
    return _word_similarity(a, b), "similar"


def _word_similarity(a: str, b: str) -> float:
    """Jaro-Winkler, but at least 0.9 for words one typo apart: Jaro-Winkler scores short
    words with swapped letters low (`zoe`, `zeo`: 0.6) though they are as likely a typo."""
    similarity = JaroWinkler.similarity(a, b)
    return max(similarity, 0.9) if similarity < 0.9 and _one_edit(a, b) else similarity


def _one_edit(a: str, b: str) -> float:
    """1.0 when two different words of 3+ letters are one typo apart (`jaes`, `james`)."""
    if a == b or len(a) < 3 or len(b) < 3:
        return 0.0
    return 1.0 if OSA.distance(a, b, score_cutoff=1) <= 1 else 0.0


def _compare_names(a: NameKeys, b: NameKeys, out: dict[str, float]) -> tuple[float, str]:
    """Fill the name features; return (name similarity 0..1, kind of name match)."""
    if not a.tokens or not b.tokens:
        out["name_far"] = 1.0
        return 0.0, "none"
    if a.sorted_tokens == b.sorted_tokens or a.compact == b.compact:
        swapped = a.tokens != b.tokens and a.compact != b.compact
        out["name_same"] = 1.0
        if len(a.tokens) == 1:
            # One word each: evidence of one name, not of a given name and a surname both.
            out["one_token"] = out["one_token_sim"] = 1.0
            out["one_token_rarity"] = _token_rarity(a.given, as_given=True)
            return 1.0, "same"
        out["name_swapped"] = 1.0 if swapped else 0.0
        out["given_sim"] = out["surname_sim"] = 1.0
        out["name_rarity"] = _pair_rarity(a.readings[0], a.readings[0], swapped)
        return 1.0, "swapped" if swapped else "same"
    if not a.surname or not b.surname:
        return _compare_one_token(a, b, out)
    # Both have a given name and a surname: try each reading, straight and swapped round.
    best = (-1.0, 0.0, 0.0, "", False, ("", ""), ("", ""))
    for ga, sa in a.readings:
        for gb, sb in b.readings:
            for swapped in (False, True):
                g2, s2 = (sb, gb) if swapped else (gb, sb)
                given, kind = _given_similarity(ga, g2)
                surname = _word_similarity(sa, s2)
                total = 0.4 * given + 0.6 * surname - (0.05 if swapped else 0.0)
                if total > best[0]:
                    best = (total, given, surname, kind, swapped, (ga, sa), (g2, s2))
    _, given, surname, kind, swapped, (ga, sa), (gb, sb) = best
    similarity = 0.4 * given + 0.6 * surname
    out["given_sim"] = _hinge(given)
    out["surname_sim"] = _hinge(surname)
    out["given_edit1"] = _one_edit(ga, gb)
    out["surname_edit1"] = _one_edit(sa, sb)
    out["name_swapped"] = 1.0 if swapped else 0.0
    out["name_far"] = max(0.0, 0.75 - similarity) / 0.75
    if kind == "nickname" and surname == 1.0:
        out["name_nickname"] = 1.0
    if kind == "initial":
        out["name_initial"] = 1.0
    rarity = _pair_rarity((ga, sa), (gb, sb), swapped)
    if given >= 0.85 and surname >= 0.85:
        out["name_rarity"] = rarity * _hinge(similarity, 0.85)
    # Each word the same or one typo away: how rare the name is says how many people could
    # be meant, whatever the similarity of short words (`kai`, `kia`: Jaro-Winkler 0.78).
    if (ga == gb or out["given_edit1"]) and (sa == sb or out["surname_edit1"]):
        out["typo_rarity"] = rarity
        # People are called by names the tables list far more often than by one typo away
        # from such a name: the unlisted word is more likely a typo than another person.
        if (out["given_edit1"] and _one_listed(ga, gb)) or (
            out["surname_edit1"] and _one_listed(sa, sb)
        ):
            out["typo_unlisted"] = 1.0
    if kind in ("nickname", "initial") and surname >= 0.92:
        return similarity, kind
    return similarity, "swapped" if swapped and similarity >= 0.92 else "similar"


def _one_listed(a: str, b: str) -> bool:
    return (a in commonnames.KNOWN) != (b in commonnames.KNOWN)


def _compare_one_token(a: NameKeys, b: NameKeys, out: dict[str, float]) -> tuple[float, str]:
    """A name of one word against another name: it may be the given name or the surname."""
    single, other = (a, b) if not a.surname else (b, a)
    token = single.given
    best, as_given = max(
        (JaroWinkler.similarity(token, t), i == 0) for i, t in enumerate(other.tokens)
    )
    out["one_token"] = 1.0
    out["one_token_sim"] = _hinge(best)
    out["name_far"] = max(0.0, 0.75 - best) / 0.75
    if best >= 0.9:
        out["one_token_rarity"] = _token_rarity(token, as_given) * _hinge(best, 0.85)
    return best, "partial" if best >= 0.9 else "similar"


def _rarity(given: str, surname: str) -> float:
    """Name rarity scaled to about 0..1 (`john smith` 0, a name outside the tables 1)."""
    given_share = 0.07 if len(given) == 1 else commonnames.given_frequency(given)
    return (-math.log10(given_share * commonnames.surname_frequency(surname)) - 3.5) / 5.0


def _pair_rarity(a: tuple[str, str], b: tuple[str, str], swapped: bool) -> float:
    """Rarity of two (given, surname) readings of one name: of the more common one, since a
    typo makes a word no table lists (`sarsh white` is as common as `sarah white`); when the
    names match swapped round, of the more common order, so that it does not depend on which
    record was written surname first (`nguyen daniel` is Daniel Nguyen)."""
    if swapped:
        return min(_order_blind_rarity(*a), _order_blind_rarity(*b))
    return min(_rarity(*a), _rarity(*b))


def _order_blind_rarity(given: str, surname: str) -> float:
    return min(_rarity(given, surname), _rarity(surname, given))


def _token_rarity(token: str, as_given: bool) -> float:
    """Rarity of a one-word name, scaled like `_rarity` (`sarah` 0, `kidsley` about 1)."""
    share = commonnames.given_frequency(token) if as_given else commonnames.surname_frequency(token)
    return (-math.log10(share) - 2.0) / 2.5


def _compare_emails(a: MatchKeys, b: MatchKeys, out: dict[str, float]) -> float:
    """Fill the email features; return the email similarity (0 when nothing ties them)."""
    ea, eb = a.email, b.email
    spells = bool(
        (a.email_handle and a.email_handle in b.name_handles)
        or (b.email_handle and b.email_handle in a.name_handles)
    )
    if ea is None or eb is None:
        out["email_spells_name"] = 1.0 if spells else 0.0
        return 0.9 if spells else 0.0
    if ea.canonical == eb.canonical:
        out["email_same"] = 1.0
        return 1.0
    if ea.domain == eb.domain and ea.local == eb.local and not ea.generic:
        out["email_untagged"] = 1.0
        return 0.97
    if ea.local == eb.local and not ea.generic and len(ea.local) >= 4:
        out["email_local"] = 1.0
        return 0.95
    out["emails_differ"] = 1.0
    out["email_spells_name"] = 1.0 if spells else 0.0
    if ea.domain == eb.domain and not ea.freemail:
        out["email_domain"] = 1.0
    if ea.generic or eb.generic:
        return 0.0
    local = JaroWinkler.similarity(ea.untagged, eb.untagged)
    out["email_local_sim"] = _hinge(local, 0.8)
    return max(local if local >= 0.85 else 0.0, 0.9 if spells else 0.0)


def _compare_phones(a: MatchKeys, b: MatchKeys, out: dict[str, float]) -> str | None:
    """Fill the phone features; return the field of `a` holding a shared number, if any."""
    if not a.phones or not b.phones:
        return None
    other = {number for _, number in b.phones}
    for field, number in a.phones:
        if number in other:
            out["phone_same"] = 1.0
            return field
    out["phones_differ"] = 1.0
    return None


_NAME_REASONS = {
    "same": "same_name",
    "swapped": "swapped_name",
    "nickname": "nickname",
    "initial": "initials",
    "partial": "partial_name",
}


def features(a: MatchKeys, b: MatchKeys) -> tuple[list[float], list[Reason]]:
    """The model's feature vector for a pair (in `FEATURES` order) and the evidence found."""
    out = dict.fromkeys(FEATURES, 0.0)
    reasons: list[Reason] = []
    email = _compare_emails(a, b, out)
    if out["email_same"]:
        reasons.append(Reason("same_email", "email", 1.0))
    elif out["email_local"]:
        reasons.append(Reason("same_email_local_part", "email", 1.0))
    elif email > 0:
        reasons.append(Reason("similar_email", "email", round(email, 3)))
    phone_field = _compare_phones(a, b, out)
    if phone_field:
        reasons.append(Reason("same_phone", phone_field, 1.0))
    similarity, kind = _compare_names(a.name, b.name, out)
    name_reason = _NAME_REASONS.get(kind)
    if name_reason:
        reasons.append(Reason(name_reason, "name", round(similarity, 3)))
    elif similarity >= 0.8:
        reasons.append(Reason("similar_name", "name", round(similarity, 3)))
    if a.client_id and b.client_id:
        out["client_same" if a.client_id == b.client_id else "client_differ"] = 1.0
    return [out[f] for f in FEATURES], reasons


# Strongest evidence first: what `match_reason` names when several reasons apply. Exact
# identifiers outrank names; a whole name outranks a partial one.
REASON_ORDER: tuple[str, ...] = (
    "same_email",
    "same_phone",
    "same_name",
    "swapped_name",
    "nickname",
    "similar_email",
    "same_email_local_part",
    "initials",
    "similar_name",
    "partial_name",
)


_RANK = {reason: rank for rank, reason in enumerate(REASON_ORDER)}


def logit(vector: list[float]) -> float:
    products: Iterable[float] = map(operator.mul, calibration.WEIGHTS, vector)
    return calibration.INTERCEPT + sum(products)


_LOGITS = [z for z, _ in calibration.ISOTONIC]


def probability(z: float) -> float:
    """The calibrated share of duplicates among pairs whose model logit is z (interpolated
    between the isotonic table's points, constant beyond its ends)."""
    points = calibration.ISOTONIC
    i = bisect.bisect_left(_LOGITS, z)
    if i == 0:
        return points[0][1]
    if i == len(points):
        return points[-1][1]
    (z0, p0), (z1, p1) = points[i - 1], points[i]
    return p0 + (p1 - p0) * (z - z0) / (z1 - z0)


def score(a: Person, b: Person, region: str = "US") -> Match | None:
    """How likely two contacts are one person, and why; None when nothing ties them."""
    if a.id == b.id:
        return None
    vector, reasons = features(match_keys(a, region), match_keys(b, region))
    if not reasons:
        return None
    confidence = probability(logit(vector))
    strongest = min(reasons, key=lambda r: _RANK[r.reason])
    return Match(round(confidence, 3), strongest.reason, reasons)


# --- Candidates and groups -------------------------------------------------------------------


def candidate_pairs(
    people: Iterable[Person], max_block: int = MAX_BLOCK
) -> Iterator[tuple[str, str]]:
    """Each pair of people sharing a blocking key, once (ordered by id); never all pairs.

    A key shared by more than `max_block` people is skipped: such a key (a shared office line,
    `n:john|smith` in a large workspace) says too little to compare everyone under it.
    """
    blocks: dict[str, list[str]] = defaultdict(list)
    person_keys: dict[str, set[str]] = {}
    for person in people:
        keys = blocking_keys(person)
        person_keys[person.id] = keys
        for key in keys:
            blocks[key].append(person.id)
    for person_id in sorted(person_keys):
        others: set[str] = set()
        for key in person_keys[person_id]:
            members = blocks[key]
            if len(members) <= max_block:
                others.update(m for m in members if m > person_id)
        for other in sorted(others):
            yield person_id, other


def group(
    pairs_with_scores: Iterable[tuple[str, str, float | Match]], min_confidence: float = 0.0
) -> list[list[str]]:
    """Connected components of the suggested pairs (confidence >= min_confidence).

    Groups come strongest first (by their best pair's confidence, then first id); the ids in a
    group are sorted.
    """
    edges = []
    for a, b, value in pairs_with_scores:
        confidence = value.confidence if isinstance(value, Match) else value
        if confidence >= min_confidence:
            edges.append((a, b, confidence))
    return grouping.components(edges)
