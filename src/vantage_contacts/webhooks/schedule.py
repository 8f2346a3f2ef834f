"""When to try a failed delivery again: exponential backoff with jitter over about three days."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# After attempt n fails, wait DELAYS[n - 1]; the first attempt is immediate.
DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(DELAYS) + 1
JITTER = 0.1  # ±10 %, so endpoints that failed together are not retried together
MAX_RETRY_AFTER = timedelta(hours=24)
# An endpoint whose deliveries have failed this long, without a success, is disabled.
DISABLE_AFTER = timedelta(days=5)


def next_attempt_at(
    attempts_made: int,
    now: datetime,
    retry_after: timedelta | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try next after `attempts_made` failed attempts; None when retries are exhausted."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    base = DELAYS[attempts_made - 1]
    jitter = (rng or random).uniform(-JITTER, JITTER)
    delay = base * (1 + jitter)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return now + delay


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(timedelta(0), when - now) if when.tzinfo else None
