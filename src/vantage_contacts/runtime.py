"""What a running app holds: settings, the database and the rate limiter, and their dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from vantage_contacts.config import Settings
from vantage_contacts.db import Database
from vantage_contacts.portal.throttle import LoginThrottle
from vantage_contacts.ratelimit import RateLimiter


@dataclass
class Runtime:
    settings: Settings
    database: Database
    limiter: RateLimiter
    login_throttle: LoginThrottle

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        limiter = RateLimiter(
            settings.rate_limit_per_minute, settings.rate_limit_burst, settings.redis_url
        )
        return cls(
            settings=settings,
            database=Database(settings.database_url, pool_size=settings.db_pool_size),
            limiter=limiter,
            login_throttle=LoginThrottle(limiter.storage),
        )

    async def close(self) -> None:
        await self.database.dispose()


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_database(request: Request) -> Database:
    return get_runtime(request).database


def get_settings(request: Request) -> Settings:
    return get_runtime(request).settings


DB = Annotated[Database, Depends(get_database)]
AppSettings = Annotated[Settings, Depends(get_settings)]
