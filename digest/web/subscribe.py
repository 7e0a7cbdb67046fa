"""``/subscribe``: the sign-up form and the double opt-in. I/O.

The answer to a valid sign-up is always "check your inbox", whether the address was new,
pending, already subscribed, unsubscribed, bounced or suppressed, so the form cannot be
used to learn who subscribes. Only a new or pending sign-up gets a confirmation mail.
Sign-ups are rate limited per client (every post) and per address (every valid one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from digest.newsletter_model import Newsletter
from digest.web.ratelimit import Rule
from digest.web.site import PageError, Site, SiteDep, client_of, read_form
from subscribers.addresses import InvalidAddress, address_hash, ascii_form, clean_name, normalize
from subscribers.model import Source
from subscribers.tokens import LIFETIMES, Purpose

router = APIRouter()


@dataclass
class Entry:
    """What the form said, as typed, and what is wrong with it."""

    email: str = ""
    name: str = ""
    newsletter: Newsletter | None = None
    sections: tuple[str, ...] | None = None  # None: all of them
    errors: dict[str, str] = field(default_factory=dict)


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, site: SiteDep, newsletter: str | None = None) -> HTMLResponse:
    if newsletter is None:
        return _form(request, site, site.config.newsletters, Entry())
    chosen = site.newsletter(newsletter)
    if chosen is None:
        raise PageError(
            404,
            "No such newsletter",
            f"{site.config.publication.name} has no newsletter called {newsletter!r}.",
            ("/subscribe", "See the newsletters you can subscribe to"),
        )
    return _form(request, site, (chosen,), Entry(newsletter=chosen))


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(request: Request, site: SiteDep) -> HTMLResponse:
    form = await read_form(request)
    return await run_in_threadpool(_sign_up, request, site, form)


def _sign_up(request: Request, site: Site, form: FormData) -> HTMLResponse:
    _limit(site, site.limits.per_client, client_of(request))
    entry = _read(site, form)
    if entry.errors or entry.newsletter is None:
        shown = site.config.newsletters
        if form.get("only") and entry.newsletter is not None:  # the form of one newsletter
            shown = (entry.newsletter,)
        return _form(request, site, shown, entry, status=400)
    newsletter = entry.newsletter
    _limit(site, site.limits.per_address, address_hash(entry.email))
    result = site.store.sign_up(
        entry.email, newsletter.name, entry.name or None, entry.sections, Source.FORM
    )
    if result.needs_confirmation and result.subscriber is not None:
        attempt = sum(
            1
            for event in site.store.events(result.subscriber.id)
            if event.kind == "signed_up" and event.newsletter == newsletter.name
        )
        site.mailer.confirmation(
            result.subscriber, newsletter, site.links[newsletter.name], attempt
        )
    lifetime = LIFETIMES[Purpose.CONFIRM]
    return site.pages.render(
        request,
        "check_inbox.html",
        "Check your inbox",
        {
            "email": entry.email,
            "newsletter_title": newsletter.title,
            "days": lifetime.days if lifetime else 7,
        },
    )


def _limit(site: Site, rule: Rule, key: str) -> None:
    if not site.limiter.hit(rule, key):
        raise PageError(
            429,
            "Too many sign-ups",
            "We have had a lot of sign-ups from here or for this address in the last "
            "hour. Please try again in an hour.",
            headers={"Retry-After": str(site.limiter.retry_after(rule))},
        )


def _read(site: Site, form: FormData) -> Entry:
    entry = Entry(email=str(form.get("email") or "").strip()[:320])
    entry.name = clean_name(str(form.get("name") or "")) or ""
    entry.newsletter = site.newsletter(str(form.get("newsletter") or ""))
    try:
        entry.email = normalize(entry.email)
        if ascii_form(entry.email) is None:
            entry.errors["email"] = (
                "Please use an address with only ASCII letters before the @: "
                "we cannot send to this one yet."
            )
    except InvalidAddress as exc:
        entry.errors["email"] = f"Please check the email address: {exc}"
    if entry.newsletter is None:
        entry.errors["newsletter"] = "Please choose a newsletter."
        return entry
    _read_sections(entry, entry.newsletter, form)
    return entry


def _read_sections(entry: Entry, newsletter: Newsletter, form: FormData) -> None:
    """Ticked sections in the newsletter's spelling; all of them means "all", None."""
    ticked = [
        str(v) for v in form.getlist(f"sections.{newsletter.name}") + form.getlist("sections")
    ]
    chosen: list[str] = []
    for name in ticked:
        try:
            section = newsletter.section(name).name
        except KeyError:
            entry.errors["sections"] = f"{name!r} is not a section of {newsletter.title}."
            return
        if section not in chosen:
            chosen.append(section)
    if not chosen:
        if "sections_shown" in form:
            entry.errors["sections"] = "Please choose at least one section."
        return  # a post with no sections at all (not from the form): every section
    if len(chosen) < len(newsletter.sections):
        entry.sections = tuple(s for s in newsletter.section_names if s in chosen)


def _form(
    request: Request,
    site: Site,
    newsletters: tuple[Newsletter, ...],
    entry: Entry,
    status: int = 200,
) -> HTMLResponse:
    selected = entry.newsletter.name if entry.newsletter else None
    choices = [
        {
            "name": n.name,
            "title": n.title,
            "sections": n.section_names,
            "chosen": entry.sections if n.name == selected and entry.sections else n.section_names,
            "selected": n.name == selected,
        }
        for n in newsletters
    ]
    title = f"Subscribe to {newsletters[0].title}" if len(newsletters) == 1 else "Subscribe"
    return site.pages.render(
        request,
        "subscribe.html",
        title,
        {"choices": choices, "email": entry.email, "name": entry.name, "errors": entry.errors},
        status,
    )
