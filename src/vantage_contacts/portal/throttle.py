"""Failed portal logins, counted per account and per client address (ASVS V2.2.1).

Counted with the same `limits` storage as the API's rate limits: in memory, or in Redis when
`VANTAGE_REDIS_URL` is set, so every process sees the same count.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

PER_ACCOUNT = RateLimitItemPerMinute(5, 15)  # 5 failures in 15 minutes
PER_ADDRESS = RateLimitItemPerMinute(20, 15)
# "Forgot password" sends email: a few per address and per client address an hour.
RESETS_PER_ACCOUNT = RateLimitItemPerMinute(3, 60)
RESETS_PER_ADDRESS = RateLimitItemPerMinute(20, 60)


class LoginThrottle:
    def __init__(self, storage: Storage) -> None:
        self.strategy = MovingWindowRateLimiter(storage)

    def _keys(self, account: str, address: str) -> list[tuple[RateLimitItemPerMinute, str]]:
        return [
            (PER_ACCOUNT, f"portal-login:account:{account}"),
            (PER_ADDRESS, f"portal-login:ip:{address}"),
        ]

    async def wait_seconds(self, account: str, address: str) -> int:
        """0 when a login may be tried; otherwise how long until it may."""
        wait = 0
        for item, key in self._keys(account, address):
            if not await self.strategy.test(item, key):
                stats = await self.strategy.get_window_stats(item, key)
                wait = max(wait, math.ceil(stats.reset_time - time.time()), 1)
        return wait

    async def failed(self, account: str, address: str) -> None:
        for item, key in self._keys(account, address):
            await self.strategy.hit(item, key)

    async def succeeded(self, account: str) -> None:
        """A good login forgives the account's earlier failures (not the address's)."""
        await self.strategy.clear(PER_ACCOUNT, f"portal-login:account:{account}")

    async def reset_allowed(self, account: str, address: str) -> bool:
        """Count a "forgot password" request; False when it should send nothing."""
        allowed = True
        for item, key in (
            (RESETS_PER_ACCOUNT, f"portal-reset:account:{account}"),
            (RESETS_PER_ADDRESS, f"portal-reset:ip:{address}"),
        ):
            allowed = await self.strategy.hit(item, key) and allowed
        return allowed
