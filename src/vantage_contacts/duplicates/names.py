"""Person names in the form duplicate matching compares them in.

`Dr. José  O'Brien-Smith Jr.` and `obrien smith, jose` should meet: names are folded (case,
accents), stripped of punctuation, titles and suffixes, read as `Surname, Given` when written
that way, and split into tokens. The first token is the given name and the last the surname;
token order is otherwise ignored by the comparisons, so swapped names still match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import jellyfish

from vantage_contacts.duplicates import commonnames, nicknames

_TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "dame",
        "lady",
        "lord",
        "rev",
        "revd",
        "fr",
        "hon",
        "mme",
        "mlle",
        "herr",
        "frau",
    ]
)
_SUFFIXES = frozenset(
    ["jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "dds", "cpa", "mba", "jnr", "snr"]
)
# Apostrophes join (O'Brien -> obrien); every other non-letter separates tokens.
_APOSTROPHES = re.compile("['\u2019`\u00b4]")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class NameKeys:
    tokens: tuple[str, ...]  # folded, in written order (after `Surname, Given` is turned round)
    given: str  # first token ("" when no name)
    surname: str  # last token ("" when the name is one token)
    given_roots: frozenset[str]  # formal names the given name can stand for (nicknames)
    sorted_tokens: str  # tokens sorted and space-joined: order-blind identity
    compact: str  # tokens joined without spaces: blind to stray spaces (`black well`)
    readings: tuple[tuple[str, str], ...]  # (given, surname) ways to read a name of 3+ tokens

    @property
    def is_initial(self) -> bool:
        return len(self.given) == 1


def fold(text: str) -> str:
    """Lowercase ASCII letters and digits, accents removed (`Zoë` -> `zoe`, `ß` -> `ss`)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens_of(name: str) -> tuple[str, ...]:
    """The folded tokens of a name, without titles or suffixes, given name first."""
    if name.count(",") == 1:
        surname, given = name.split(",")
        if fold(given).strip(" .") not in _SUFFIXES:
            name = f"{given} {surname}"
    words = _SEPARATORS.split(_APOSTROPHES.sub("", fold(name)))
    tokens = [w for w in words if w]
    kept = [t for t in tokens if t not in _TITLES and t not in _SUFFIXES]
    return tuple(kept or tokens)


@lru_cache(maxsize=200_000)
def name_keys(name: str) -> NameKeys:
    tokens = tokens_of(name)
    given = tokens[0] if tokens else ""
    surname = tokens[-1] if len(tokens) > 1 else ""
    return NameKeys(
        tokens=tokens,
        given=given,
        surname=surname,
        given_roots=nicknames.roots(given) if given else frozenset(),
        sorted_tokens=" ".join(sorted(tokens)),
        compact="".join(tokens),
        readings=_readings(tokens),
    )


def _readings(tokens: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """First and last token; with 3+ tokens also the first with the rest joined (`sean matth
    ews`), and the rest joined with the last (`soph ie snell`): a stray space or a middle name."""
    if len(tokens) < 2:
        return ()
    first, last = tokens[0], tokens[-1]
    if len(tokens) == 2:
        return ((first, last),)
    return ((first, last), (first, "".join(tokens[1:])), ("".join(tokens[:-1]), last))


@lru_cache(maxsize=100_000)
def phonetic(token: str) -> str:
    """Metaphone code of a folded token (`catherine`, `kathryn` -> `K0RN`)."""
    return jellyfish.metaphone(token) if token.isalpha() else token


def blocking_keys(name: str) -> set[str]:
    """Name keys two spellings of one person's name are likely to share.

    - `n:` the given name's formal forms with the surname, order-blind (same name, swapped
      name, nickname);
    - `m:` the same in Metaphone codes (typos that keep the sound);
    - `i:` a token's letters in alphabetical order with the other's initial, both ways round
      (typos in the other word, swapped letters in this one, initials, unlisted nicknames),
      unless the token is a very common name;
    - `x:` both tokens' outlines, `y:` their first three letters, order-blind: keys that a
      typo in each word (inside it, or after its third letter) leaves unchanged;
    - `a:` both tokens' letters in alphabetical order, order-blind: swapped letters (`loew`);
    (`n:`, `y:` and `a:` for every name, the others only when one of the words is not a very
    common name.)
    - `t:` a one-word name alone, unless it is a common given name; and two words joined when
      one is short (`stan field` meets `stanfield`).
    """
    keys = name_keys(name)
    if not keys.tokens:
        return set()
    if not keys.surname:
        token = keys.given
        if len(token) >= 3 and commonnames.GIVEN_TIER.get(token) is None:
            return {f"t:{token}"}
        return set()
    out: set[str] = set()
    for given, surname in keys.readings:
        out.update(_pair_keys(given, surname))
    if len(keys.tokens) == 2 and min(map(len, keys.tokens)) <= 4:
        out.add(f"t:{keys.compact}")  # a stray space (`stan field`, `stanfield`)
    return out


def _pair_keys(given: str, surname: str) -> set[str]:
    # A name of two very common words (`jessica johnson`) gets its exact `n:` keys and two typo
    # keys: `y:`, which a typo after the third letter of either word leaves (`jessica jonhson`),
    # and `a:`, which swapped letters leave (`jessica johnsno`); neither block is much larger
    # than the name's own. The other typo keys (`x:`, `m:`, `i:`) would make large blocks of
    # such names for little more recall (measured in bench/RESULTS.md).
    common = given in commonnames.COMMON and surname in commonnames.COMMON
    out = _initial_keys(surname, given)
    if len(given) == 1:
        return out
    out.update(_initial_keys(given, surname))
    if len(given) > 2 and len(surname) > 2:
        out.add("y:" + "|".join(sorted((given[:3], surname[:3]))))
        # Swapped letters keep each word's letters: a block no larger than the name's own.
        out.add("a:" + "|".join(sorted(("".join(sorted(given)), "".join(sorted(surname))))))
        if not common:
            out.add("x:" + "|".join(sorted((_outline(given), _outline(surname)))))
    for root in _given_forms(given):
        out.add("n:" + "|".join(sorted((root, surname))))
        codes = sorted((phonetic(root), phonetic(surname)))
        if codes[0] and not common:
            out.add("m:" + "|".join(codes))
    return out


def _given_forms(given: str) -> list[str]:
    """The formal names a given name stands for, and a nickname itself: `Stewart Lisa` must
    meet `Lisa Stewart`, whose `lisa` is read as `elizabeth` only in the given name's place."""
    forms = sorted(nicknames.roots(given))[:4]
    return forms if given in forms else [*forms, given]


def _outline(token: str) -> str:
    """First two letters and the last: unchanged by a typo inside the word."""
    return token[:2] + token[-1]


def _initial_keys(token: str, other: str) -> set[str]:
    """`i:` key: the token's letters, sorted, with the other's initial (finds `J. Kowalczyk`,
    typos in the other word, swapped letters in this one); none after a very common token
    (`i:himst|j` would hold every J. Smith; `x:` and `y:` cover typos beside a common one)."""
    if token in commonnames.COMMON:
        return set()
    return {f"i:{''.join(sorted(token))}|{other[0]}"}
