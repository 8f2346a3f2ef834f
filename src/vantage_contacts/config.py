"""The one Settings class. Every setting comes from a `VANTAGE_`-prefixed environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vantage_contacts.email.senders import mail_domain, parse_smtp_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VANTAGE_", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'vantage-contacts.db'}",
        description="sqlite:///path or postgresql://user@host:port/db; the driver is chosen here.",
    )
    redis_url: str | None = None
    smtp_url: str | None = None
    mail_dir: Path = Field(default_factory=lambda: Path.cwd() / "mail")
    mail_from: str = "Vantage <no-reply@localhost>"
    public_url: str = "http://127.0.0.1:8000"
    allow_private_webhook_urls: bool = False
    # A worker that dies holding claimed deliveries leaves them to others after this long;
    # it must exceed a batch's sending time (timeouts are 15 s), or live claims are taken.
    webhook_lease_seconds: float = Field(default=60.0, ge=1.0)
    rate_limit_per_minute: int = Field(default=100, ge=1)
    rate_limit_burst: int = Field(default=20, ge=1)
    default_phone_region: str = "US"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_import_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "INFO"
    run_worker: bool = Field(
        default=True, description="Run the background worker inside each API process."
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if not url.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("VANTAGE_DATABASE_URL must be a sqlite:/// or postgresql:// URL")
        return url

    @field_validator("smtp_url")
    @classmethod
    def _known_smtp(cls, url: str | None) -> str | None:
        if url:
            parse_smtp_url(url)  # a typo stops the start, not every email later
        return url

    @field_validator("mail_from")
    @classmethod
    def _one_sender(cls, sender: str) -> str:
        mail_domain(sender)
        return sender

    @field_validator("default_phone_region")
    @classmethod
    def _region_upper(cls, region: str) -> str:
        return region.upper()

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, url: str) -> str:
        return url.rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
