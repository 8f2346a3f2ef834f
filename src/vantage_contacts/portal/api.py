"""`/v1/contacts/:id/portal/…`: grant, take away and reset portal access through the API."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Body

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.contacts import repository as contacts_repository
from vantage_contacts.contacts import service as contacts
from vantage_contacts.contacts.schemas import Contact, ContactUpdate
from vantage_contacts.errors import error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.kit.etag import etag
from vantage_contacts.kit.responses import JSONBody, single
from vantage_contacts.kit.schemas import Envelope, InputModel
from vantage_contacts.portal import service
from vantage_contacts.runtime import DB, AppSettings

router = APIRouter(prefix="/v1/contacts", tags=["Portal access"], route_class=IdempotentRoute)


class PortalEnable(InputModel):
    access_level: Literal["view", "full"] = "view"
    send_invitation: bool = True


@router.post(
    "/{contact_id}/portal/enable",
    dependencies=[Idempotent],
    response_model=Envelope[Contact],
    responses=error_responses(404),
)
async def enable_portal(
    contact_id: str,
    subject: ApiKey,
    db: DB,
    settings: AppSettings,
    body: PortalEnable = Body(default_factory=PortalEnable),
) -> JSONBody:
    """Enable portal access at `view` (projects and tickets) or `full` (also create tickets and
    approve). Sends an invitation email with a single-use link, valid 7 days, to set a password
    (`send_invitation`, default true; 422 when the contact has no email)."""
    update = ContactUpdate(portal_access=body.access_level)
    async with db.write() as conn:
        contact, version = await contacts.update(
            conn, subject, contact_id, update, None, settings, send_invitation=body.send_invitation
        )
    return single(contact, headers={"ETag": etag(version)})


@router.post(
    "/{contact_id}/portal/disable",
    dependencies=[Idempotent],
    response_model=Envelope[Contact],
    responses=error_responses(404),
)
async def disable_portal(
    contact_id: str, subject: ApiKey, db: DB, settings: AppSettings
) -> JSONBody:
    """Disable portal access: the level becomes `none` and every portal session ends at once."""
    async with db.write() as conn:
        contact, version = await contacts.update(
            conn, subject, contact_id, ContactUpdate(portal_access="none"), None, settings
        )
    return single(contact, headers={"ETag": etag(version)})


@router.post(
    "/{contact_id}/portal/reset-password",
    dependencies=[Idempotent],
    response_model=Envelope[Contact],
    responses=error_responses(404, 409),
)
async def reset_portal_password(
    contact_id: str, subject: ApiKey, db: DB, settings: AppSettings
) -> JSONBody:
    """Send a password reset email with a single-use link valid 1 hour. Only for contacts with
    portal access (409 otherwise)."""
    async with db.write() as conn:
        row = contacts.visible(
            await contacts_repository.get(conn, subject.tenant, contact_id, for_update=True),
            contact_id,
        )
        contact, version = await service.reset_password(conn, subject, row, settings.public_url)
    return single(contact, headers={"ETag": etag(version)})
