"""The portal's pages under /portal/: server-rendered, no JavaScript, every form CSRF-protected."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import FileResponse, RedirectResponse, Response

from vantage_contacts.auth.subject import Actor, Subject, Tenant
from vantage_contacts.clients import repository as clients_repository
from vantage_contacts.contacts import repository as contacts_repository
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.normalize import email_key
from vantage_contacts.kit.pagination import PageRequest
from vantage_contacts.models import portal_reset_requests
from vantage_contacts.portal import passwords, service, sessions, tokens
from vantage_contacts.portal.sessions import PortalSession
from vantage_contacts.runtime import Runtime, get_runtime
from vantage_contacts.tickets import repository as tickets_repository
from vantage_contacts.tickets import service as tickets
from vantage_contacts.tickets.schemas import TicketCreate, TicketUpdate

PACKAGE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=PACKAGE / "templates" / "portal")
router = APIRouter(prefix="/portal", include_in_schema=False)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Links carry one-time tokens in their path: never hand them to another site.
    "Referrer-Policy": "no-referrer",
}
INVALID_LINK = "This link is not valid any more: it was used already, replaced, or it expired."


# --- plumbing ---------------------------------------------------------------------------------


async def _session(request: Request, conn: AsyncConnection) -> tuple[PortalSession, bool]:
    """The visitor's session (a new anonymous one if needed) and whether it is new."""
    found = await sessions.load(conn, request.cookies.get(sessions.COOKIE))
    if found is not None:
        return found, False
    return await sessions.start(conn), True


def _finish(response: Response, runtime: Runtime, session: PortalSession | None) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if session is None:
        response.delete_cookie(sessions.COOKIE, path="/portal")
    elif session.token:
        response.set_cookie(
            sessions.COOKIE,
            session.token,
            httponly=True,
            samesite="lax",
            secure=runtime.settings.public_url.startswith("https://"),
            path="/portal",
        )
    return response


def _page(
    request: Request,
    template: str,
    session: PortalSession | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    response = templates.TemplateResponse(
        request,
        template,
        {
            "csrf_token": session.csrf_token if session else "",
            "static_url": "/portal/static/portal.css",
            **context,
        },
        status_code=status_code,
    )
    return _finish(response, get_runtime(request), session)


def _redirect(request: Request, to: str, session: PortalSession | None) -> Response:
    return _finish(RedirectResponse(to, status_code=303), get_runtime(request), session)


def _expired_form(request: Request, session: PortalSession) -> Response:
    return _page(
        request,
        "message.html",
        session,
        403,
        heading="Please try again",
        message="This form had expired. Reload the page and send it again.",
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _logged_in_contact(conn: AsyncConnection, session: PortalSession) -> RowMapping | None:
    """The session's contact while it may still use the portal."""
    if not session.logged_in or session.tenant is None or session.contact_id is None:
        return None
    contact = await contacts_repository.get(conn, session.tenant, session.contact_id)
    if contact is None or contact["deleted_at"] is not None or contact["portal_access"] == "none":
        return None
    return contact


# --- static -----------------------------------------------------------------------------------


@router.get("/static/portal.css")
async def stylesheet() -> FileResponse:
    return FileResponse(PACKAGE / "static" / "portal.css", media_type="text/css")


# --- log in and out -------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> Response:
    async with get_runtime(request).database.write() as conn:
        session, _ = await _session(request, conn)
    notice = (
        "Your password was changed. Log in with the new one."
        if "reset" in request.query_params
        else None
    )
    return _page(request, "login.html", session, notice=notice)


@router.post("/login")
async def login(request: Request) -> Response:
    runtime = get_runtime(request)
    form = await _form(request)
    address = form.get("email", "").strip()[:320]
    password = form.get("password", "")[: passwords.MAX_LENGTH * 4]
    async with runtime.database.write() as conn:
        session, _ = await _session(request, conn)
    if not session.csrf_ok(form.get("csrf_token")):
        return _expired_form(request, session)
    account = email_key(address)
    wait = await runtime.login_throttle.wait_seconds(account, _client_address(request))
    if wait:
        minutes = max(1, round(wait / 60))
        return _page(
            request,
            "login.html",
            session,
            429,
            email=address,
            errors=[f"Too many failed attempts. Try again in about {minutes} minute(s)."],
        )
    async with runtime.database.read() as conn:
        candidates = await service.login_candidates(conn, account)
    contact = await asyncio.to_thread(service.match_password, candidates, password)
    if contact is None:
        await runtime.login_throttle.failed(account, _client_address(request))
        return _page(
            request,
            "login.html",
            session,
            401,
            email=address,
            errors=["The email or password is not right."],
        )
    await runtime.login_throttle.succeeded(account)
    async with runtime.database.write() as conn:
        await sessions.end(conn, session.id)
        tenant = Tenant(contact["workspace_id"], contact["mode"])
        new_session = await sessions.start(conn, tenant, contact["id"])
        await service.record_login(conn, contact)
    return _redirect(request, "/portal/", new_session)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    async with get_runtime(request).database.write() as conn:
        session, _ = await _session(request, conn)
        if not session.csrf_ok(form.get("csrf_token")):
            return _expired_form(request, session)
        await sessions.end(conn, session.id)
    return _redirect(request, "/portal/login", None)


# --- home and tickets -----------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    async with get_runtime(request).database.write() as conn:
        session, _ = await _session(request, conn)
        contact = await _logged_in_contact(conn, session)
        if contact is None:
            return _redirect(request, "/portal/login", session)
        return await _home(request, conn, session, contact)


async def _home(
    request: Request,
    conn: AsyncConnection,
    session: PortalSession,
    contact: RowMapping,
    status_code: int = 200,
    errors: list[str] | None = None,
) -> Response:
    tenant = Tenant(contact["workspace_id"], contact["mode"])
    client = await clients_repository.get(conn, tenant, contact["client_id"])
    rows, _ = await tickets_repository.page(
        conn,
        tenant,
        _FIRST_HUNDRED,
        client_id=contact["client_id"],
        contact_id=None,
        status=None,
        sort="-created_at",
    )
    notices = {"created": "Your ticket was created.", "approved": "The ticket was approved."}
    notice = next((text for key, text in notices.items() if key in request.query_params), None)
    return _page(
        request,
        "home.html",
        session,
        status_code,
        contact=contact,
        client_name=client["name"] if client is not None else "",
        tickets=rows,
        can_edit=contact["portal_access"] == "full",
        notice=notice,
        errors=errors,
    )


_FIRST_HUNDRED = PageRequest(page=1, per_page=100)


async def _full_access(
    request: Request, conn: AsyncConnection, form: dict[str, str]
) -> tuple[PortalSession, RowMapping | None, Response | None]:
    """The session and contact for a `full`-access action, or the response refusing it."""
    session, _ = await _session(request, conn)
    if not session.csrf_ok(form.get("csrf_token")):
        return session, None, _expired_form(request, session)
    contact = await _logged_in_contact(conn, session)
    if contact is None:
        return session, None, _redirect(request, "/portal/login", session)
    if contact["portal_access"] != "full":
        message = "Your access lets you view tickets, not change them."
        page = _page(
            request,
            "message.html",
            session,
            403,
            heading="Not allowed",
            message=message,
            link="/portal/",
            link_text="Back",
        )
        return session, None, page
    return session, contact, None


def _portal_subject(contact: RowMapping) -> Subject:
    return Subject(Tenant(contact["workspace_id"], contact["mode"]), Actor("portal", contact["id"]))


@router.post("/tickets")
async def create_ticket(request: Request) -> Response:
    form = await _form(request)
    async with get_runtime(request).database.write() as conn:
        session, contact, refusal = await _full_access(request, conn, form)
        if refusal is not None or contact is None:
            return refusal or _redirect(request, "/portal/login", session)
        title = form.get("title", "").strip()
        description = form.get("description", "").strip() or None
        if not title or len(title) > 300 or (description and len(description) > 50_000):
            errors = ["Give the ticket a title of at most 300 characters."]
            return await _home(request, conn, session, contact, 422, errors)
        body = TicketCreate(title=title, description=description, contact_id=contact["id"])
        await tickets.create(conn, _portal_subject(contact), body)
    return _redirect(request, "/portal/?created=1", session)


@router.post("/tickets/{ticket_id}/approve")
async def approve_ticket(request: Request, ticket_id: str) -> Response:
    form = await _form(request)
    async with get_runtime(request).database.write() as conn:
        session, contact, refusal = await _full_access(request, conn, form)
        if refusal is not None or contact is None:
            return refusal or _redirect(request, "/portal/login", session)
        tenant = Tenant(contact["workspace_id"], contact["mode"])
        ticket = await tickets_repository.get(conn, tenant, ticket_id)
        if ticket is None or ticket["client_id"] != contact["client_id"]:
            return _page(
                request,
                "message.html",
                session,
                404,
                heading="Not found",
                message="There is no such ticket.",
                link="/portal/",
                link_text="Back",
            )
        if ticket["status"] != "awaiting_approval":
            errors = [f"Ticket #{ticket['number']} is not awaiting approval."]
            return await _home(request, conn, session, contact, 409, errors)
        await tickets.update(
            conn, _portal_subject(contact), ticket_id, TicketUpdate(status="approved")
        )
    return _redirect(request, "/portal/?approved=1", session)


# --- passwords ------------------------------------------------------------------------------------


@router.get("/password/forgot")
async def forgot_page(request: Request) -> Response:
    async with get_runtime(request).database.write() as conn:
        session, _ = await _session(request, conn)
    return _page(request, "forgot.html", session)


@router.post("/password/forgot")
async def forgot(request: Request) -> Response:
    """The same answer, after the same work, whether or not the address has an account: the
    request is queued and the worker sends links to the contacts it finds."""
    runtime = get_runtime(request)
    form = await _form(request)
    address = form.get("email", "").strip()
    async with runtime.database.write() as conn:
        session, _ = await _session(request, conn)
        if not session.csrf_ok(form.get("csrf_token")):
            return _expired_form(request, session)
        plausible = 3 <= len(address) <= 320 and "@" in address
        account = email_key(address)
        if plausible and await runtime.login_throttle.reset_allowed(
            account, _client_address(request)
        ):
            await conn.execute(
                insert(portal_reset_requests).values(
                    id=new_id("prr"),
                    email_key=account,
                    requested_at=utcnow(),
                    processed_at=None,
                )
            )
    return _page(request, "forgot.html", session, sent=True)


_SET_PASSWORD = {
    "invitation": {
        "heading": "Welcome to the client portal",
        "intro": "Choose a password to finish setting up your access.",
        "path": "/portal/invitations/{token}",
    },
    "reset": {
        "heading": "Choose a new password",
        "intro": "Your old password stops working, and you are logged out everywhere.",
        "path": "/portal/password/reset/{token}",
    },
}


async def _password_form(request: Request, purpose: tokens.Purpose, token: str) -> Response:
    async with get_runtime(request).database.write() as conn:
        session, _ = await _session(request, conn)
        found = await tokens.find_usable(conn, token, purpose)
        contact = await _token_contact(conn, found)
    if contact is None:
        return _page(
            request, "message.html", session, 410, heading="Link expired", message=INVALID_LINK
        )
    return _set_password_page(request, session, purpose, token, contact)


def _set_password_page(
    request: Request,
    session: PortalSession,
    purpose: tokens.Purpose,
    token: str,
    contact: RowMapping,
    status_code: int = 200,
    errors: list[str] | None = None,
) -> Response:
    text = _SET_PASSWORD[purpose]
    return _page(
        request,
        "set_password.html",
        session,
        status_code,
        heading=text["heading"],
        intro=text["intro"],
        action=text["path"].format(token=token),
        email=contact["email"],
        min_length=passwords.MIN_LENGTH,
        errors=errors,
    )


async def _token_contact(conn: AsyncConnection, token_row: RowMapping | None) -> RowMapping | None:
    if token_row is None:
        return None
    tenant = Tenant(token_row["workspace_id"], token_row["mode"])
    contact = await contacts_repository.get(conn, tenant, token_row["contact_id"])
    if contact is None or contact["deleted_at"] is not None or contact["portal_access"] == "none":
        return None
    return contact


async def _set_password(request: Request, purpose: tokens.Purpose, token: str) -> Response:
    form = await _form(request)
    password, confirm = form.get("password", ""), form.get("confirm", "")
    async with get_runtime(request).database.write() as conn:
        session, _ = await _session(request, conn)
        if not session.csrf_ok(form.get("csrf_token")):
            return _expired_form(request, session)
        contact = await _token_contact(conn, await tokens.find_usable(conn, token, purpose))
        if contact is None:
            return _page(
                request, "message.html", session, 410, heading="Link expired", message=INVALID_LINK
            )
        problems = passwords.problems(password, confirm, contact["email"])
        if problems:
            return _set_password_page(request, session, purpose, token, contact, 422, problems)
        if await tokens.consume(conn, token, purpose) is None:
            return _page(
                request, "message.html", session, 410, heading="Link expired", message=INVALID_LINK
            )
        tenant = Tenant(contact["workspace_id"], contact["mode"])
        await service.set_password(conn, tenant, contact["id"], password)
        await sessions.end(conn, session.id)
        if purpose == "reset":
            return _redirect(request, "/portal/login?reset=1", None)
        new_session = await sessions.start(conn, tenant, contact["id"])
        await service.record_login(conn, contact)
    return _redirect(request, "/portal/", new_session)


@router.get("/invitations/{token}")
async def invitation_page(request: Request, token: str) -> Response:
    return await _password_form(request, "invitation", token)


@router.post("/invitations/{token}")
async def accept_invitation(request: Request, token: str) -> Response:
    return await _set_password(request, "invitation", token)


@router.get("/password/reset/{token}")
async def reset_page(request: Request, token: str) -> Response:
    return await _password_form(request, "reset", token)


@router.post("/password/reset/{token}")
async def reset(request: Request, token: str) -> Response:
    return await _set_password(request, "reset", token)
