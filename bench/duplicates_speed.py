"""Speed of the duplicate engine in memory: blocking keys, candidate pairs, scoring.

    .venv/bin/python -m bench.duplicates_speed [--sizes 100000 1000000] [--write]

For each size, people are generated (bench/contactgen.py) and the benchmark times:
- `blocking_keys()` for every person (what the service computes on each write);
- grouping people by key and listing each person's candidates (keys shared by more than
  `MAX_BLOCK` people skipped): the candidate pairs per person are what scoring has to handle;
- `score()` on a sample of candidate pairs, cold (normal forms computed) and warm (cached).
The database-backed part (the listing over stored keys) is measured separately.
`--write` replaces the duplicates-speed section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import Counter, defaultdict

from bench.contactgen import generate
from bench.duplicates_report import write_section
from vantage_contacts.duplicates import matching

COMMAND = ".venv/bin/python -m bench.duplicates_speed --write"


def measure(size: int) -> dict[str, float]:
    started = time.perf_counter()
    people, _ = generate(size, seed=7, duplicate_share=0.15)
    generated = time.perf_counter() - started

    started = time.perf_counter()
    keys = [matching.blocking_keys(p) for p in people]
    keys_seconds = time.perf_counter() - started

    started = time.perf_counter()
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, person_keys in enumerate(keys):
        for key in person_keys:
            blocks[key].append(index)
    sizes = Counter(len(m) for m in blocks.values())
    skipped = sum(count for size_, count in sizes.items() if size_ > matching.MAX_BLOCK)
    candidates = 0
    sample: list[tuple[int, int]] = []
    rng = random.Random(1)
    for index, person_keys in enumerate(keys):
        others: set[int] = set()
        for key in person_keys:
            members = blocks[key]
            if len(members) <= matching.MAX_BLOCK:
                others.update(m for m in members if m > index)
        candidates += len(others)
        if others and rng.random() < 20_000 / len(people):
            sample.append((index, rng.choice(sorted(others))))
    pairs_seconds = time.perf_counter() - started

    matching.match_keys.cache_clear()
    started = time.perf_counter()
    for a, b in sample:
        matching.score(people[a], people[b])
    cold = (time.perf_counter() - started) / len(sample)
    started = time.perf_counter()
    for a, b in sample:
        matching.score(people[a], people[b])
    warm = (time.perf_counter() - started) / len(sample)

    return {
        "people": len(people),
        "generate_s": generated,
        "keys_s": keys_seconds,
        "keys_per_person": statistics.fmean(len(k) for k in keys),
        "keys_us": keys_seconds / len(people) * 1e6,
        "distinct_keys": len(blocks),
        "skipped_keys": skipped,
        "pairs_s": pairs_seconds,
        "candidates": candidates,
        "candidates_per_person": candidates / len(people),
        "score_cold_us": cold * 1e6,
        "score_warm_us": warm * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    lines = [
        "| generated people | keys/person | blocking_keys() | all keys | candidate pairs "
        "| pairs/person | keys skipped (> MAX_BLOCK) | grouping + candidates | score() cold "
        "| score() warm |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in args.sizes:
        r = measure(size)
        lines.append(
            f"| {r['people']:,} | {r['keys_per_person']:.1f} | {r['keys_us']:.1f} µs "
            f"| {r['keys_s']:.1f} s | {r['candidates']:,.0f} | {r['candidates_per_person']:.2f} "
            f"| {r['skipped_keys']:,.0f} of {r['distinct_keys']:,.0f} | {r['pairs_s']:.1f} s "
            f"| {r['score_cold_us']:.0f} µs | {r['score_warm_us']:.0f} µs |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    if args.write:
        load = os.getloadavg()[0]
        write_section(
            "duplicates-speed",
            f"""## Duplicates: engine speed (in memory)

Command: `{COMMAND}` (2-core machine; load average {load:.1f} at the end of the run, other
work was running). One process, pure Python. `score()` cold includes computing both
contacts' normal forms (`match_keys`, cached afterwards); warm reuses them. Candidate pairs
are counted once per pair (not per person and direction).

{table}
""",
        )


if __name__ == "__main__":
    main()
