"""The duplicate matching engine: normal forms, blocking keys, scores, calibration, groups."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
from bench.contactgen import generate
from hypothesis import given
from hypothesis import strategies as st

from vantage_contacts.duplicates import calibration, fields, grouping, names, nicknames, service
from vantage_contacts.duplicates.matching import (
    MAX_BLOCK,
    Match,
    Person,
    blocking_keys,
    candidate_pairs,
    group,
    match_keys,
    probability,
    score,
)

ROOT = Path(__file__).resolve().parents[1]


def person(
    id_: str,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    mobile: str | None = None,
    client_id: str | None = None,
) -> Person:
    return Person(id_, name, email, phone, mobile, client_id)


# --- Normal forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "John.Smith@gmail.com",
        " johnsmith+crm@gmail.com ",
        "j.o.h.n.smith@googlemail.com",
        "JOHNSMITH@GMAIL.COM",
    ],
)
def test_gmail_ignores_case_spaces_dots_and_plus_tags(email: str) -> None:
    keys = fields.email_keys(email)
    assert keys is not None
    assert keys.canonical == "johnsmith@gmail.com"


def test_company_domain_keeps_dots_and_tags_in_the_canonical_form() -> None:
    keys = fields.email_keys("John.Smith+news@Acme.com")
    assert keys is not None
    assert keys.canonical == "john.smith+news@acme.com"  # the server may treat them literally
    assert keys.local == "john.smith"  # but a tag still does not make another person


def test_outlook_drops_plus_tags_but_keeps_dots() -> None:
    keys = fields.email_keys("john.smith+x@outlook.com")
    assert keys is not None
    assert keys.canonical == "john.smith@outlook.com"


@pytest.mark.parametrize(
    "text",
    [
        "(415) 555-2671",
        "415.555.2671",
        "+1 415 555 2671",
        "1-415-555-2671",
        "4155552671",
        "415-555-2671 ext. 12",
        "+14155552671",
    ],
)
def test_us_phone_formats_normalise_to_one_e164(text: str) -> None:
    assert fields.phone_key(text, "US") == "+14155552671"
    assert fields.phone_block_key(text) == "p:5552671"


def test_phone_without_country_code_is_read_in_the_region() -> None:
    assert fields.phone_key("020 7946 0958", "GB") == "+442079460958"
    assert fields.phone_key("+44 20 7946 0958", "US") == "+442079460958"
    assert fields.phone_block_key("020 7946 0958") == fields.phone_block_key("+44 20 7946 0958")


def test_text_too_short_to_be_a_phone_gives_no_key() -> None:
    assert fields.phone_key("12-34", "US") is None
    assert fields.phone_block_key("12-34") is None


def test_names_fold_case_accents_punctuation_titles_and_suffixes() -> None:
    assert names.tokens_of("Dr. José  O'Brien-Smith Jr.") == ("jose", "obrien", "smith")
    assert names.tokens_of("ZOË ÅNGSTRÖM") == ("zoe", "angstrom")


def test_surname_comma_given_is_turned_round() -> None:
    assert names.tokens_of("Smith, John") == ("john", "smith")
    assert names.tokens_of("John Smith, Jr.") == ("john", "smith")


@pytest.mark.parametrize(
    ("nickname", "formal"),
    [
        ("bob", "robert"),
        ("bill", "william"),
        ("liz", "elizabeth"),
        ("peggy", "margaret"),
        ("jack", "john"),
        ("kate", "katherine"),
        ("chuck", "charles"),
    ],
)
def test_nicknames_stand_for_their_formal_name(nickname: str, formal: str) -> None:
    assert formal in nicknames.roots(nickname)
    assert nicknames.roots(formal) == frozenset({formal})


def test_nickname_table_has_a_few_hundred_pairs() -> None:
    assert nicknames.pair_count() >= 300


def test_ambiguous_short_form_stands_for_each_formal_name() -> None:
    assert {"christopher", "christine", "christina"} <= nicknames.roots("chris")


def test_unlisted_name_stands_for_itself() -> None:
    assert nicknames.roots("zbigniew") == frozenset({"zbigniew"})


def test_match_keys_hold_e164_phones_once() -> None:
    keys = match_keys(person("a", "Ann Lee", phone="(415) 555-2671", mobile="+1 415 555 2671"))
    assert keys.phones == (("phone", "+14155552671"),)


# --- Scores and reasons ----------------------------------------------------------------------


def _reasons(match: Match | None) -> dict[str, tuple[str, float]]:
    assert match is not None
    return {r.reason: (r.field, r.score) for r in match.reasons}


def test_gmail_variants_are_the_same_email() -> None:
    a = person("a", "Robert Smith", "Robert.Smith@gmail.com")
    b = person("b", "R Smith", "robertsmith+crm@googlemail.com")
    match = score(a, b)
    assert match is not None
    assert match.match_reason == "same_email"
    assert _reasons(match)["same_email"] == ("email", 1.0)
    assert match.confidence >= 0.9


def test_nickname_with_same_phone_in_another_format() -> None:
    a = person("a", "Bob Kowalczyk", None, "(415) 555-2671")
    b = person("b", "Robert Kowalczyk", None, "+1 415 555 2671")
    reasons = _reasons(score(a, b))
    assert reasons["nickname"][0] == "name"
    assert reasons["same_phone"] == ("phone", 1.0)


def test_same_phone_names_the_field_it_was_found_in() -> None:
    a = person("a", "Ann Lee", mobile="415-555-2671")
    b = person("b", "Ann Lee", phone="4155552671")
    assert _reasons(score(a, b))["same_phone"] == ("mobile", 1.0)


def test_swapped_name_is_recognised() -> None:
    match = score(person("a", "Kowalczyk Bartosz"), person("b", "Bartosz Kowalczyk"))
    assert match is not None
    assert match.match_reason == "swapped_name"


def test_initial_matches_the_given_name() -> None:
    match = score(
        person("a", "J. Kowalczyk", "jk@acme.com", client_id="c1"),
        person("b", "Janina Kowalczyk", "janina@acme.com", client_id="c1"),
    )
    assert "initials" in _reasons(match)


def test_swapped_name_scores_the_same_whichever_record_comes_first() -> None:
    """The name's rarity is read in its more common order (`nguyen daniel` is Daniel Nguyen),
    not in the order of whichever record is compared first."""
    a, b = person("a", "Daniel Nguyen"), person("b", "Nguyen Daniel")
    ab, ba = score(a, b), score(b, a)
    assert ab is not None and ba is not None
    assert ab.confidence == ba.confidence


def test_accents_and_case_do_not_matter() -> None:
    match = score(person("a", "ZOË ÅNGSTRÖM"), person("b", "Zoe Angstrom"))
    assert match is not None
    assert match.match_reason == "same_name"


def test_tagged_address_at_a_company_is_a_similar_email() -> None:
    match = score(
        person("a", "Priya Raman", "priya.raman+crm@acme.com"),
        person("b", "Priya Raman", "priya.raman@acme.com"),
    )
    assert _reasons(match)["similar_email"][0] == "email"


def test_same_local_part_at_another_domain() -> None:
    match = score(
        person("a", "Bartosz Kowalczyk", "bkowalczyk@acme.com"),
        person("b", "B Kowalczyk", "bkowalczyk@initech.io"),
    )
    assert "same_email_local_part" in _reasons(match)


def test_typo_in_a_rare_name_is_a_similar_name() -> None:
    match = score(person("a", "Bartosz Kowalczyk"), person("b", "Bartosz Kowalcyzk"))
    assert match is not None
    assert match.match_reason == "similar_name"
    assert 0.8 <= _reasons(match)["similar_name"][1] < 1.0


def test_swapped_letters_in_a_short_name_are_a_typo_not_another_person() -> None:
    """`zeo` is no name: a typo of `zoe`; `joe` is a name: likely another person."""
    typo = score(person("a", "Zoe Reid"), person("b", "Zeo Reid"))
    other = score(person("a", "Zoe Reid"), person("b", "Joe Reid"))
    assert typo is not None and other is not None
    assert typo.confidence >= 0.5 > other.confidence


def test_every_reason_carries_a_field_and_a_score_in_range() -> None:
    match = score(
        person("a", "Bob Smith", "bob.smith@gmail.com", "4155552671"),
        person("b", "Robert Smith", "bobsmith@gmail.com", "+14155552671"),
    )
    assert match is not None
    assert match.match_reason in {r.reason for r in match.reasons}
    for reason in match.reasons:
        assert reason.field in {"name", "email", "phone", "mobile"}
        assert 0.0 <= reason.score <= 1.0


def test_unrelated_contacts_score_none() -> None:
    assert score(person("a", "Ann Lee", "ann@acme.com"), person("b", "Bartosz Nowak")) is None


def test_a_contact_is_not_its_own_duplicate() -> None:
    a = person("a", "Ann Lee", "ann@acme.com")
    assert score(a, a) is None


def test_score_is_symmetric() -> None:
    a = person("a", "Bob Smith", "bsmith@acme.com", "415 555 2671", client_id="c")
    b = person("b", "Smith, Robert", "robert.smith@gmail.com", None, "4155552671")
    ab, ba = score(a, b), score(b, a)
    assert ab is not None and ba is not None
    assert ab.confidence == ba.confidence
    assert ab.match_reason == ba.match_reason


def test_more_evidence_means_more_confidence() -> None:
    base = person("a", "Bartosz Kowalczyk", "bartosz@acme.com", "415 555 2671", client_id="c")
    name_only = score(base, person("b", "Bartosz Kowalczyk"))
    name_and_phone = score(base, person("b", "Bartosz Kowalczyk", None, "+14155552671"))
    assert name_only is not None and name_and_phone is not None
    assert name_and_phone.confidence > name_only.confidence


def test_a_common_name_alone_is_weaker_than_a_rare_one() -> None:
    common = score(person("a", "John Smith"), person("b", "John Smith"))
    rare = score(person("a", "Bartosz Kowalczyk"), person("b", "Bartosz Kowalczyk"))
    assert common is not None and rare is not None
    assert common.confidence < rare.confidence


def test_confidence_is_a_non_decreasing_function_of_the_model_logit() -> None:
    points = calibration.ISOTONIC
    assert all(p0 <= p1 for (_, p0), (_, p1) in itertools.pairwise(points))
    values = [probability(z / 10) for z in range(-300, 300)]
    assert all(v0 <= v1 for v0, v1 in itertools.pairwise(values))
    assert values[0] >= 0.0 and values[-1] <= 1.0


def test_confidence_is_calibrated_on_generated_contacts() -> None:
    """Among suggested pairs at confidence >= c, at least about a share c are true duplicates
    (on a seed the model was neither fitted nor calibrated on)."""
    people, truth = generate(4000, seed=909)
    by_id = {p.id: p for p in people}
    scored = []
    for a, b in candidate_pairs(people):
        match = score(by_id[a], by_id[b])
        if match is not None:
            scored.append((match.confidence, (a, b) in truth))
    for threshold in (0.5, 0.7, 0.9):
        above = [is_true for confidence, is_true in scored if confidence >= threshold]
        assert len(above) > 100
        assert sum(above) / len(above) >= threshold - 0.05
    low = [is_true for confidence, is_true in scored if confidence < 0.2]
    assert sum(low) / len(low) < 0.2
    suggested = [t for c, t in scored if c >= 0.5]
    assert sum(suggested) / len(truth) > 0.85  # recall at the API's default min_confidence


# --- Blocking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (person("a", "Robert Kowalczyk"), person("b", "Bob Kowalczyk")),
        (person("a", "Bartosz Kowalczyk"), person("b", "Bartosz Kowalcyzk")),
        (person("a", "Bartosz Kowalczyk"), person("b", "Bratosz Kowalczyk")),
        (person("a", "Bartosz Kowalczyk"), person("b", "Kowalczyk, Bartosz")),
        (person("a", "Bartosz Kowalczyk"), person("b", "B. Kowalczyk")),
        (person("a", "John Smith"), person("b", "Jon Smith")),
        (person("a", "Christina Turner"), person("b", "Christina Turnre")),  # common words
        (person("a", "Lisa Stewart"), person("b", "Stewart Lisa")),  # a nickname, swapped
        (person("a", "John Smith", "john@acme.com"), person("b", "J. Smith", "js@acme.com")),
        (person("a", "Ann Lee", "a.lee@gmail.com"), person("b", "X", "alee+1@googlemail.com")),
        (person("a", "Ann Lee", phone="(415) 555-2671"), person("b", "Q", mobile="5552671")),
        (person("a", "Ann Lee", "annlee@acme.com"), person("b", "Q", "annlee@initech.io")),
        (person("a", "Ann Lee", "ann.lee@acme.com"), person("b", "Ann Lee")),
    ],
)
def test_likely_duplicates_share_a_blocking_key(a: Person, b: Person) -> None:
    assert blocking_keys(a) & blocking_keys(b)


def test_a_common_first_name_alone_is_never_a_key() -> None:
    assert blocking_keys(person("a", "John")) == set()
    keys = blocking_keys(person("a", "John Smith", "john@acme.com"))
    assert not any(k.startswith("i:") for k in keys)
    assert not any(k.startswith("l:") for k in keys)
    assert "t:bartosz" in blocking_keys(person("a", "Bartosz"))


def test_an_initial_beside_a_common_surname_is_not_a_name_key() -> None:
    """`i:smith|j` would hold every J. Smith of a large workspace; such a pair is found
    through its email domain, phone or email instead."""
    assert not blocking_keys(person("a", "J. Smith")) & blocking_keys(person("b", "John Smith"))
    initial = blocking_keys(person("a", "J. Kowalczyk"))
    assert initial & blocking_keys(person("b", "John Kowalczyk"))
    # The key holds the word's letters in order: swapped letters still meet.
    assert initial & blocking_keys(person("b", "John Kowlaczyk"))


def test_a_stray_space_in_a_name_still_meets_the_name() -> None:
    assert blocking_keys(person("a", "Stan Field")) & blocking_keys(person("b", "Stanfield"))


def test_role_mailboxes_are_not_local_part_keys() -> None:
    assert "l:info" not in blocking_keys(person("a", "Ann Lee", "info@acme.com"))
    assert "e:info@acme.com" in blocking_keys(person("a", "Ann Lee", "info@acme.com"))


def test_blocking_never_compares_all_pairs() -> None:
    same = [person(f"c{i:04d}", "John Smith", f"js{i}@corp{i}.com") for i in range(MAX_BLOCK + 50)]
    assert list(candidate_pairs(same)) == []  # one huge block says nothing: skipped
    people, _ = generate(3000, seed=5)
    pairs = list(candidate_pairs(people))
    assert len(pairs) < 5 * len(people)
    assert len(pairs) == len(set(pairs))
    assert all(a < b for a, b in pairs)


def test_blocking_finds_nearly_all_generated_duplicates() -> None:
    people, truth = generate(3000, seed=6)
    pairs = set(candidate_pairs(people))
    assert len(truth & pairs) / len(truth) > 0.9


def test_blocking_keys_are_the_same_in_every_process() -> None:
    code = (
        "from vantage_contacts.duplicates.matching import Person, blocking_keys;"
        "print(sorted(blocking_keys(Person('x', 'Dr. Robert O\\'Brien-Smith', "
        "'Bob.OBrien+x@gmail.com', '(415) 555-2671', '020 7946 0958', 'c1'))))"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT / "src")}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert "e:bobobrien@gmail.com" in outputs.pop()


# --- Groups ----------------------------------------------------------------------------------


def test_group_joins_connected_suggestions_strongest_first() -> None:
    groups = group(
        [("c", "d", 0.6), ("a", "b", 0.9), ("b", "e", 0.7), ("x", "y", 0.3), ("f", "f", 1.0)],
        min_confidence=0.5,
    )
    assert groups == [["a", "b", "e"], ["c", "d"]]


def test_group_accepts_matches() -> None:
    match = Match(0.8, "same_name", [])
    assert group([("b", "a", match)]) == [["a", "b"]]


def suggestions(max_size: int) -> st.SearchStrategy[list[tuple[str, str, float]]]:
    """Suggested pairs among ten contacts (a contact paired with itself included)."""
    contacts = st.sampled_from("abcdefghij")
    confidences = st.sampled_from([0.5, 0.6, 0.7, 0.9])
    return st.lists(st.tuples(contacts, contacts, confidences), max_size=max_size)


@given(suggestions(25), st.integers(min_value=1, max_value=4))
def test_pages_of_groups_follow_one_another_in_the_groups_order(
    edges: list[tuple[str, str, float]], limit: int
) -> None:
    rows = [(a, b, confidence, "same_name") for a, b, confidence in edges]
    everything = group(edges)
    shown: list[list[str]] = []
    for offset in range(0, len(everything) + limit, limit):
        page, total = grouping.page_of(rows, offset, limit)
        assert total == len(everything)
        assert len(page) <= limit
        shown.extend(g.contact_ids for g in page)
        for g in page:
            assert g.pairs and all(p.contact_a in g.contact_ids for p in g.pairs)
            assert [p.confidence for p in g.pairs] == sorted(
                (p.confidence for p in g.pairs), reverse=True
            )
    assert shown == everything
    assert sorted(everything) == sorted(_components_by_search(edges))
    assert sum(len(g.pairs) for g in grouping.page_of(rows, 0, len(rows))[0]) == sum(
        a != b for a, b, _ in edges
    )


def test_a_chain_of_namesakes_longer_than_a_group_is_split_into_stars() -> None:
    """120 contacts each suggested with the next (a chain of namesakes) are one component; the
    listing shows them as small groups, each contact in one of them."""
    ids = [f"con_{i:03d}" for i in range(120)]
    rows = [(ids[i], ids[i + 1], 0.9 - (i % 7) / 100, "same_name") for i in range(119)]
    groups, total = grouping.page_of(rows, 0, 1000)
    assert total == len(groups) > 1
    assert max(len(g.contact_ids) for g in groups) <= grouping.MAX_GROUP
    assert sorted(c for g in groups for c in g.contact_ids) == ids
    for g in groups:
        assert _components_by_search([(p.contact_a, p.contact_b, 0.0) for p in g.pairs]) == [
            g.contact_ids
        ]


@given(suggestions(30))
def test_split_groups_hold_every_contact_once_and_are_connected(
    edges: list[tuple[str, str, float]],
) -> None:
    """With groups of at most 3 contacts before a split, whatever the suggestions: each contact
    of a suggested pair is in exactly one group, and each group is connected by its own pairs,
    which are suggested pairs."""
    rows = [(a, b, confidence, "same_name") for a, b, confidence in edges]
    original = grouping.MAX_GROUP
    grouping.MAX_GROUP = 3
    try:
        groups, total = grouping.page_of(rows, 0, 100)
    finally:
        grouping.MAX_GROUP = original
    assert total == len(groups)
    contacts = [c for g in groups for c in g.contact_ids]
    assert sorted(contacts) == sorted({x for a, b, _ in edges if a != b for x in (a, b)})
    suggested = {(a, b, confidence) for a, b, confidence in edges}
    for g in groups:
        assert len(g.contact_ids) >= 2
        assert {(p.contact_a, p.contact_b, p.confidence) for p in g.pairs} <= suggested
        assert _components_by_search([(p.contact_a, p.contact_b, 0.0) for p in g.pairs]) == [
            g.contact_ids
        ]


def _components_by_search(edges: list[tuple[str, str, float]]) -> list[list[str]]:
    """Connected components found another way (breadth-first search), to check the union-find."""
    near: dict[str, set[str]] = {}
    for a, b, _ in edges:
        if a != b:
            near.setdefault(a, set()).add(b)
            near.setdefault(b, set()).add(a)
    seen: set[str] = set()
    found = []
    for start in near:
        if start in seen:
            continue
        seen.add(start)
        todo, members = [start], []
        while todo:
            x = todo.pop()
            members.append(x)
            for y in near[x] - seen:
                seen.add(y)
                todo.append(y)
        found.append(sorted(members))
    return found


def test_kept_keys_stay_bounded_and_drop_the_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "_KNOWN_KEYS", OrderedDict())
    monkeypatch.setattr(service, "KNOWN_KEYS_MAX", 3)
    people = [
        Person(id=f"con_{i}", name=f"Person {i}", email=None, phone=None, mobile=None)
        for i in range(5)
    ]
    for person in people:
        service.remember_keys(person, frozenset({f"k:{person.id}"}))
    service.remember_keys(people[3], frozenset({"k:changed"}))  # known already: kept as it was

    assert list(service._KNOWN_KEYS) == people[2:]
    assert service.keys_of(people[3]) == frozenset({"k:con_3"})
    assert service.keys_of(people[0]) == frozenset(blocking_keys(people[0]))  # computed again
