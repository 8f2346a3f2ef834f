"""Realistic labelled contacts for the duplicates benchmarks: a CRM workspace with duplicates.

A workspace has clients (companies with a domain, a main phone line and an email pattern) and
people drawn from realistic name frequencies, so that unrelated people share common names
("John Smith" at two companies), colleagues share a main line, and relatives share a surname and
a home number: the hard negatives a real workspace has. Some people are then entered again, the
way duplicates arise: a nickname, a typo, `Smith, John`, initials, dropped accents or case, a
personal instead of a work email, a `+tag` or Gmail dots, another phone format, a missing field.
As in the API, no two records share an email up to case.

    people, truth = generate(10_000, seed=1)   # truth: set of (id, id) pairs, ids sorted
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from vantage_contacts.duplicates import commonnames, nicknames
from vantage_contacts.duplicates.matching import Person

_EXTRA_GIVEN = [
    "aisha",
    "ahmed",
    "akira",
    "aleksandr",
    "alessandro",
    "amara",
    "anais",
    "anastasia",
    "anya",
    "arjun",
    "astrid",
    "aurelien",
    "bartosz",
    "beatriz",
    "bjorn",
    "bogdan",
    "camille",
    "carmen",
    "chiara",
    "chidi",
    "cosmin",
    "dagmar",
    "dimitri",
    "dmitri",
    "elif",
    "elodie",
    "emre",
    "enzo",
    "esperanza",
    "fatima",
    "farid",
    "femi",
    "fiona",
    "francesca",
    "freya",
    "giulia",
    "gunnar",
    "hamza",
    "hana",
    "haruto",
    "hiroshi",
    "ines",
    "ingrid",
    "ioana",
    "isidro",
    "jamal",
    "javier",
    "jorge",
    "juliette",
    "kai",
    "kalani",
    "kasia",
    "kenji",
    "kofi",
    "lars",
    "leila",
    "lorenzo",
    "luca",
    "magnus",
    "malik",
    "marcela",
    "mateo",
    "mehmet",
    "milos",
    "nadia",
    "naoki",
    "nia",
    "nikolai",
    "noor",
    "olamide",
    "oskar",
    "pablo",
    "priya",
    "quentin",
    "rafael",
    "rania",
    "ravi",
    "renata",
    "rohan",
    "sakura",
    "santiago",
    "sergei",
    "siobhan",
    "soren",
    "tariq",
    "thiago",
    "tomasz",
    "valentina",
    "wei",
    "xavier",
    "yasmin",
    "yuki",
    "yusuf",
    "zainab",
    "zoltan",
]

_SURNAME_HEADS = [
    "ash",
    "black",
    "brad",
    "brom",
    "car",
    "chad",
    "dun",
    "fair",
    "gold",
    "hart",
    "hol",
    "kirk",
    "lang",
    "mar",
    "north",
    "pem",
    "ross",
    "stan",
    "thorn",
    "wake",
    "whit",
    "al",
    "bel",
    "brook",
    "cal",
    "cross",
    "dal",
    "ed",
    "farn",
    "glen",
    "hay",
    "hux",
    "ing",
    "kel",
    "lind",
    "mel",
    "nor",
    "penn",
    "rad",
    "sel",
    "tall",
    "ux",
    "ver",
    "wes",
    "yar",
]
_SURNAME_TAILS = [
    "ford",
    "ley",
    "ton",
    "well",
    "wood",
    "by",
    "field",
    "more",
    "ridge",
    "son",
    "man",
    "er",
    "ock",
    "ing",
    "ham",
    "worth",
    "combe",
    "low",
    "stead",
    "wick",
    "hurst",
]
_EXTRA_SURNAMES = [
    "kowalski",
    "nowak",
    "novak",
    "müller",
    "schröder",
    "weiß",
    "rossi",
    "russo",
    "ferrari",
    "esposito",
    "bianchi",
    "dubois",
    "lefèvre",
    "moreau",
    "laurent",
    "girard",
    "tanaka",
    "suzuki",
    "sato",
    "watanabe",
    "yamamoto",
    "park",
    "choi",
    "jung",
    "kang",
    "gupta",
    "sharma",
    "iyer",
    "reddy",
    "okafor",
    "adeyemi",
    "mensah",
    "kariuki",
    "o'brien",
    "o'neill",
    "mcallister",
    "fitzgerald",
    "van",
    "der",
    "berg",
    "de",
    "la",
    "cruz",
    "núñez",
    "hernández",
    "gonzález",
    "pérez",
    "sánchez",
    "jiménez",
    "ångström",
    "øberg",
    "lindqvist",
    "johansson",
    "andersson",
    "nyström",
    "kovács",
    "horváth",
    "novotný",
    "dvořák",
    "papadopoulos",
    "georgiou",
    "yilmaz",
    "kaya",
    "demir",
    "ivanov",
    "petrov",
    "smirnov",
    "kuznetsov",
    "popescu",
    "ionescu",
    "nguyễn",
    "trần",
    "phạm",
    "lê",
    "đặng",
    "haddad",
    "khoury",
    "mansour",
]

_EMAIL_PATTERNS = ("first.last", "flast", "first", "firstl", "first_last", "lastf")
_FREEMAIL = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com")


@dataclass
class _Entity:
    given: str
    middle: str
    surname: str
    client: int
    email: str | None
    phone: str | None
    mobile: str | None


_ONSETS = [
    "b",
    "br",
    "c",
    "ch",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "kr",
    "l",
    "m",
    "n",
    "p",
    "pr",
    "r",
    "s",
    "sh",
    "st",
    "t",
    "tr",
    "v",
    "w",
    "z",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ie", "ou", "y"]
_CODAS = ["", "", "", "n", "r", "l", "s", "t", "k", "m", "nd", "rt", "ck", "ll", "sk"]
_ENDINGS = [
    "",
    "",
    "",
    "son",
    "ez",
    "ski",
    "ton",
    "ley",
    "er",
    "man",
    "ford",
    "berg",
    "elli",
    "ova",
    "ic",
    "ard",
]


def _made_surnames(rng: random.Random, count: int) -> list[str]:
    """Plausible rare surnames (`Draiton`, `Kovelski`): the long tail real workspaces have."""
    made: set[str] = set()
    while len(made) < count:
        syllables = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
            for _ in range(rng.choice((1, 2, 2, 3)))
        )
        made.add(syllables + rng.choice(_ENDINGS))
    return sorted(made)


class _Pool:
    """Names to draw from, each tier of the table (and the rare rest) with its share of people."""

    def __init__(self, tiers: dict[str, int], rare: list[str], shares: tuple[float, ...]) -> None:
        by_tier: list[list[str]] = [[] for _ in shares[:-1]]
        for name, tier in tiers.items():
            by_tier[tier].append(name)
        self.names: list[str] = []
        weights: list[float] = []
        for names_, share in zip([*by_tier, sorted(set(rare))], shares, strict=False):
            self.names.extend(names_)
            weights.extend([share / len(names_)] * len(names_))
        self.cumulative = list(itertools.accumulate(weights))

    def draw(self, rng: random.Random) -> str:
        return rng.choices(self.names, cum_weights=self.cumulative)[0]


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        formal = [n for n in nicknames.FORMAL_TO_NICKNAMES if n not in commonnames.GIVEN_TIER]
        self.given_pool = _Pool(
            commonnames.GIVEN_TIER, formal + _EXTRA_GIVEN, (0.30, 0.35, 0.15, 0.20)
        )
        made = _made_surnames(random.Random(seed + 1), 40_000) + [
            h + t for h in _SURNAME_HEADS for t in _SURNAME_TAILS
        ]
        self.surname_pool = _Pool(
            commonnames.SURNAME_TIER, made + _EXTRA_SURNAMES, (0.10, 0.22, 0.08, 0.60)
        )
        self.emails: set[str] = set()

    # --- entities ---------------------------------------------------------------------------

    def _phone(self) -> str:
        rng = self.rng
        return f"+1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"

    def _unique_email(self, local: str, domain: str) -> str:
        email = f"{local}@{domain}"
        n = 2
        while email.casefold() in self.emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self.emails.add(email.casefold())
        return email

    def _local(self, given: str, surname: str, pattern: str) -> str:
        g, s = _ascii(given), _ascii(surname).replace(" ", "")
        return {
            "first.last": f"{g}.{s}",
            "flast": f"{g[0]}{s}",
            "first": g,
            "firstl": f"{g}{s[0]}",
            "first_last": f"{g}_{s}",
            "lastf": f"{s}{g[0]}",
        }[pattern]

    def entities(self, count: int) -> list[_Entity]:
        rng = self.rng
        clients = max(1, count // 8)
        domains = [
            f"{rng.choice(_SURNAME_HEADS)}{rng.choice(_SURNAME_TAILS)}{i}.com"
            for i in range(clients)
        ]
        patterns = [rng.choice(_EMAIL_PATTERNS) for _ in range(clients)]
        lines = [self._phone() for _ in range(clients)]
        out: list[_Entity] = []
        while len(out) < count:
            client = rng.randrange(clients)
            given = self.given_pool.draw(rng)
            surname = self.surname_pool.draw(rng)
            middle = self.given_pool.draw(rng) if rng.random() < 0.1 else ""
            roll = rng.random()
            if roll < 0.75:
                email = self._unique_email(
                    self._local(given, surname, patterns[client]), domains[client]
                )
            elif roll < 0.92:
                local = self._local(given, surname, rng.choice(_EMAIL_PATTERNS))
                if rng.random() < 0.5:
                    local += str(rng.randint(1, 99))
                email = self._unique_email(local, rng.choice(_FREEMAIL))
            else:
                email = None
            roll = rng.random()
            phone = self._phone() if roll < 0.45 else lines[client] if roll < 0.65 else None
            mobile = self._phone() if rng.random() < 0.5 else None
            out.append(_Entity(given, middle, surname, client, email, phone, mobile))
            if rng.random() < 0.03:  # a relative: same surname and home number, other person
                relative_given = self.given_pool.draw(rng)
                local = self._local(relative_given, surname, "first.last")
                out.append(
                    _Entity(
                        relative_given,
                        "",
                        surname,
                        client,
                        self._unique_email(local, rng.choice(_FREEMAIL))
                        if rng.random() < 0.6
                        else None,
                        phone or self._phone(),
                        None,
                    )
                )
        return out[:count]

    # --- records ----------------------------------------------------------------------------

    def original(self, e: _Entity) -> dict[str, str | None]:
        middle = f" {e.middle.title()}" if e.middle and self.rng.random() < 0.5 else ""
        name = f"{e.given.title()}{middle} {_title(e.surname)}"
        roll = self.rng.random()
        if roll < 0.03:  # one word only, as some forms and imports leave it
            name = e.given.title() if roll < 0.02 else _title(e.surname)
        return {
            "name": name,
            "email": e.email,
            "phone": _format_phone(self.rng, e.phone),
            "mobile": _format_phone(self.rng, e.mobile),
            "client": str(e.client),
        }

    def duplicate(self, e: _Entity, domains_seen: list[str]) -> dict[str, str | None]:
        rng = self.rng
        return {
            "name": self._dup_name(e),
            "email": self._dup_email(e, domains_seen),
            "phone": self._dup_phone(e.phone, e.mobile),
            "mobile": _format_phone(rng, e.mobile) if rng.random() < 0.5 else None,
            "client": str(e.client)
            if rng.random() < 0.85
            else (None if rng.random() < 0.5 else str(rng.randrange(10**6))),
        }

    def _dup_name(self, e: _Entity) -> str:
        rng = self.rng
        given, surname = e.given, e.surname
        roll = rng.random()
        if roll < 0.05:  # one word only, as some forms and imports leave it
            return given.title() if rng.random() < 0.7 else _title(surname)
        if roll < 0.15:
            options = nicknames.FORMAL_TO_NICKNAMES.get(given)
            if options:
                given = rng.choice(options)
        elif roll < 0.33:
            typos = rng.random()
            if typos < 0.45 or typos >= 0.85:  # sometimes both words, as in hurried typing
                given = _typos(rng, given)
            if typos >= 0.45:
                surname = _typos(rng, surname)
        elif roll < 0.38:
            return f"{_title(surname)} {given.title()}"
        elif roll < 0.44:
            return f"{_title(surname)}, {given.title()}"
        elif roll < 0.51:
            return f"{given[0].upper()}. {_title(surname)}"
        elif roll < 0.58:
            return f"{given.upper()} {surname.upper()}"
        elif roll < 0.63:
            return f"{_ascii(given)} {_ascii(surname)}"
        elif roll < 0.67:
            return f"{rng.choice(('Dr.', 'Mr.', 'Ms.'))} {given.title()} {_title(surname)}"
        elif roll < 0.72:
            middle = e.middle or self.given_pool.draw(rng)
            return f"{given.title()} {middle[0].upper()}. {_title(surname)}"
        return f"{given.title()} {_title(surname)}"

    def _dup_email(self, e: _Entity, domains_seen: list[str]) -> str | None:
        rng = self.rng
        roll = rng.random()
        if e.email is None or roll < 0.25:
            return (
                None
                if rng.random() < 0.6
                else self._unique_email(
                    self._local(e.given, e.surname, rng.choice(_EMAIL_PATTERNS))
                    + str(rng.randint(1, 99)),
                    rng.choice(_FREEMAIL),
                )
            )
        local, domain = e.email.split("@")
        if roll < 0.40 and domain == "gmail.com":
            dotted = (
                local.replace(".", "")
                if "." in local
                else ".".join(local[i : i + 3] for i in range(0, len(local), 3))
            )
            return self._unique_email(dotted + ("+crm" if rng.random() < 0.5 else ""), "gmail.com")
        if roll < 0.50:
            return self._unique_email(f"{local}+{rng.choice(('news', 'crm', 'work'))}", domain)
        if roll < 0.70:
            pattern = rng.choice(_EMAIL_PATTERNS)
            return self._unique_email(self._local(e.given, e.surname, pattern), domain)
        if roll < 0.80:
            return self._unique_email(local, rng.choice(domains_seen))  # moved employer
        return self._unique_email(
            self._local(e.given, e.surname, rng.choice(_EMAIL_PATTERNS)) + str(rng.randint(1, 99)),
            rng.choice(_FREEMAIL),
        )

    def _dup_phone(self, phone: str | None, mobile: str | None) -> str | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            return _format_phone(rng, phone)
        if roll < 0.60:
            return _format_phone(rng, mobile)
        if roll < 0.70:
            return self._phone()
        return None


def generate(
    count: int, seed: int = 1, duplicate_share: float = 0.15
) -> tuple[list[Person], set[tuple[str, str]]]:
    """`count` distinct people, then duplicates of about `duplicate_share` of them (a fifth of
    those twice), shuffled; returns the records and the set of true duplicate pairs."""
    gen = Generator(seed)
    rng = gen.rng
    entities = gen.entities(count)
    domains = sorted({e.email.split("@")[1] for e in entities if e.email})
    records: list[tuple[int, dict[str, str | None]]] = []
    for index, entity in enumerate(entities):
        records.append((index, gen.original(entity)))
        if rng.random() < duplicate_share:
            for _ in range(2 if rng.random() < 0.2 else 1):
                records.append((index, gen.duplicate(entity, domains)))
    rng.shuffle(records)
    people = []
    by_entity: dict[int, list[str]] = {}
    for n, (index, r) in enumerate(records):
        person_id = f"con_{n:07d}"
        people.append(
            Person(person_id, r["name"] or "", r["email"], r["phone"], r["mobile"], r["client"])
        )
        by_entity.setdefault(index, []).append(person_id)
    truth = set()
    for ids in by_entity.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                truth.add((min(a, b), max(a, b)))
    return people, truth


def _ascii(text: str) -> str:
    from vantage_contacts.duplicates.names import fold

    return "".join(ch for ch in fold(text) if ch.isalnum() or ch == " ")


def _title(surname: str) -> str:
    return " ".join(part[:1].upper() + part[1:] for part in surname.split(" "))


def _typos(rng: random.Random, word: str) -> str:
    """One typo; in a long word sometimes two (`mccarthy` -> `mccaryhy`)."""
    word = _typo(rng, word)
    return _typo(rng, word) if len(word) >= 6 and rng.random() < 0.25 else word


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(0 if rng.random() < 0.15 else 1, len(word))
    kind = rng.randrange(4)
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + letter + word[i:]
    if kind == 2:
        return word[:i] + letter + word[i + 1 :]
    if i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + letter + word[i + 1 :]


def _format_phone(rng: random.Random, e164: str | None) -> str | None:
    if e164 is None:
        return None
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    return rng.choice(
        (
            e164,
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"+1 {area} {exchange} {line}",
            f"{area}.{exchange}.{line}",
            f"1-{area}-{exchange}-{line}",
            f"{area}{exchange}{line}",
        )
    )
