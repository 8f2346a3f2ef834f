"""Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(
    signing_secrets: Sequence[str], message_id: str, sent_at: datetime, body: bytes
) -> dict[str, str]:
    """The three headers for `body`, signed with every current secret (two during a rotation)."""
    text = body.decode()
    signatures = " ".join(Webhook(s).sign(message_id, sent_at, text) for s in signing_secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
    }
