"""Per-API-key rate limits: a per-minute limit and a per-second burst limit.

Counted with the `limits` library's moving window, in process memory by default, or in Redis
when `VANTAGE_REDIS_URL` is set, so every API process shares one count per key.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

log = logging.getLogger("vantage_contacts.ratelimit")


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # Unix seconds when the per-minute window has room again
    retry_after: int  # seconds to wait; 0 when allowed

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _storage(redis_url: str | None) -> Storage:
    if not redis_url:
        return MemoryStorage()
    scheme, _, rest = redis_url.partition("://")
    return RedisStorage(f"async+{scheme}://{rest}")


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, redis_url: str | None = None) -> None:
        self.per_minute = RateLimitItemPerMinute(per_minute)
        self.burst = RateLimitItemPerSecond(burst)
        self.storage = _storage(redis_url)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.shared = redis_url is not None

    async def hit(self, key: str) -> RateLimitDecision:
        """Count one request for `key` and say whether it may go ahead."""
        try:
            return await self._hit(key)
        except Exception as error:
            log.warning("rate limit store unavailable, allowing request: %s", error)
            limit = self.per_minute.amount
            return RateLimitDecision(True, limit, limit, int(time.time()) + 60, 0)

    async def _hit(self, key: str) -> RateLimitDecision:
        burst_ok = await self.strategy.hit(self.burst, key)
        minute_ok = burst_ok and await self.strategy.hit(self.per_minute, key)
        minute = await self.strategy.get_window_stats(self.per_minute, key)
        now = time.time()
        reset_at = max(math.ceil(minute.reset_time), math.ceil(now))
        retry_after = 0
        if not burst_ok:
            burst = await self.strategy.get_window_stats(self.burst, key)
            retry_after = max(1, math.ceil(burst.reset_time - now))
        elif not minute_ok:
            retry_after = max(1, math.ceil(minute.reset_time - now))
        return RateLimitDecision(
            allowed=burst_ok and minute_ok,
            limit=self.per_minute.amount,
            remaining=max(0, minute.remaining),
            reset_at=reset_at,
            retry_after=retry_after,
        )

    async def reset(self) -> None:
        await self.storage.reset()
