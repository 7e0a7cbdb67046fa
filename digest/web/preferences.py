"""``/preferences/{token}``: sections, cadence, time zone and send hour of one subscription.

I/O. A save goes straight to the store; delivery reads the store when it plans the next
edition not yet sent, so nothing else needs doing for a change to apply. Invalid input
saves nothing and shows the form again with a message by each wrong field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from digest.newsletter_model import Newsletter
from digest.web.site import PageError, Site, SiteDep, read_form
from subscribers.model import Cadence, Status, Subscriber, Subscription, SubscriptionStatus
from subscribers.tokens import Claims, Purpose

router = APIRouter()

CADENCE_LABELS = {Cadence.EACH: "Every edition", Cadence.WEEKLY: "A weekly roll-up"}


@cache
def time_zones() -> tuple[str, ...]:
    """IANA zones a person would pick: "Area/City" names and UTC, sorted."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def offered_cadences(newsletter: Newsletter) -> tuple[Cadence, ...]:
    """Each edition always; the weekly roll-up where the newsletter declares one."""
    return (Cadence.EACH, Cadence.WEEKLY) if newsletter.weekly_rollup else (Cadence.EACH,)


@dataclass
class Choice:
    """The preferences as the form shows them, and what is wrong with a posted one."""

    sections: tuple[str, ...] | None
    cadence: Cadence
    timezone: str | None
    send_hour: int | None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    claims: Claims
    newsletter: Newsletter
    subscriber: Subscriber
    subscription: Subscription


@router.get("/preferences/{token}", response_class=HTMLResponse)
def show(request: Request, token: str, site: SiteDep) -> HTMLResponse:
    target = _target(site, token)
    return _page(request, site, target, _current(target))


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def save(request: Request, token: str, site: SiteDep) -> HTMLResponse:
    form = await read_form(request)
    return await run_in_threadpool(_save, request, token, site, form)


def _save(request: Request, token: str, site: Site, form: FormData) -> HTMLResponse:
    target = _target(site, token)
    choice = _read(target, form)
    if choice.errors:
        return _page(request, site, target, choice, status=400)
    site.store.set_preferences(
        target.subscriber.id,
        target.newsletter.name,
        choice.sections,
        choice.cadence,
        choice.timezone,
        choice.send_hour,
    )
    return _page(request, site, _target(site, token), choice, saved=True)


def _target(site: Site, token: str) -> Target:
    claims = site.claims(token, Purpose.PREFERENCES)
    newsletter = site.subscribed_newsletter(claims)
    subscriber = site.store.get(claims.subscriber_id)
    subscription = site.store.subscription(claims.subscriber_id, newsletter.name)
    if subscriber is None or subscription is None:
        raise PageError(
            404,
            "No subscription here",
            f"We have no subscription to {newsletter.title} for this link any more.",
            ("/subscribe", "Subscribe"),
        )
    return Target(claims, newsletter, subscriber, subscription)


def _current(target: Target) -> Choice:
    return Choice(
        sections=target.subscription.sections,
        cadence=target.subscription.cadence,
        timezone=target.subscriber.timezone,
        send_hour=target.subscriber.send_hour,
    )


def _read(target: Target, form: FormData) -> Choice:
    newsletter = target.newsletter
    choice = _current(target)
    chosen: list[str] = []
    for ticked in form.getlist("sections"):
        try:
            chosen.append(newsletter.section(str(ticked)).name)
        except KeyError:
            choice.errors["sections"] = f"{ticked!r} is not a section of {newsletter.title}."
    if not chosen and "sections" not in choice.errors:
        choice.errors["sections"] = (
            "Please choose at least one section, or unsubscribe with the link below."
        )
    all_sections = set(chosen) >= set(newsletter.section_names)
    choice.sections = (
        None if all_sections else tuple(s for s in newsletter.section_names if s in chosen)
    )
    cadence = str(form.get("cadence") or Cadence.EACH.value)
    offered = {c.value: c for c in _cadences(target)}
    if cadence in offered:
        choice.cadence = offered[cadence]
    else:
        choice.errors["cadence"] = f"{newsletter.title} has no {cadence!r} delivery."
    zone = str(form.get("timezone") or "")
    if zone and zone not in _zones(target):
        choice.errors["timezone"] = f"{zone!r} is not a time zone we know; pick one from the list."
    else:
        choice.timezone = zone or None
    hour = str(form.get("send_hour") or "")
    if hour and not (hour.isdigit() and 0 <= int(hour) <= 23):
        choice.errors["send_hour"] = "Choose an hour from the list (0 to 23), or none."
    else:
        choice.send_hour = int(hour) if hour else None
    return choice


def _cadences(target: Target) -> tuple[Cadence, ...]:
    """What is offered, plus the current cadence if an import or an old setting chose it."""
    offered = offered_cadences(target.newsletter)
    current = target.subscription.cadence
    return offered if current in offered else (*offered, current)


def _zones(target: Target) -> tuple[str, ...]:
    zones = time_zones()
    current = target.subscriber.timezone
    return zones if current is None or current in zones else tuple(sorted((*zones, current)))


def _page(
    request: Request,
    site: Site,
    target: Target,
    choice: Choice,
    status: int = 200,
    saved: bool = False,
) -> HTMLResponse:
    newsletter = target.newsletter
    chosen = newsletter.section_names if choice.sections is None else choice.sections
    links = site.links[newsletter.name]
    return site.pages.render(
        request,
        "preferences.html",
        f"Your preferences for {newsletter.title}",
        {
            "newsletter_title": newsletter.title,
            "newsletter_zone": newsletter.timezone,
            "sections": [
                {"name": name, "checked": name in chosen} for name in newsletter.section_names
            ],
            "cadences": [
                {"value": c.value, "label": CADENCE_LABELS[c], "checked": c is choice.cadence}
                for c in _cadences(target)
            ],
            "zones": _zones(target),
            "zone": choice.timezone or "",
            "hours": range(24),
            "hour": choice.send_hour,
            "errors": choice.errors,
            "saved": saved,
            "status_note": _status_note(target),
            "unsubscribe_url": links.leaving_links(target.subscriber.id, newsletter.name)[0],
        },
        status,
    )


def _status_note(target: Target) -> str | None:
    title = target.newsletter.title
    leaving = target.subscriber.status not in (Status.ACTIVE, Status.PENDING)
    if leaving or target.subscription.status is SubscriptionStatus.UNSUBSCRIBED:
        return f"You are not receiving {title}; these preferences apply if you subscribe again."
    if (
        target.subscriber.status is Status.PENDING
        or target.subscription.status is SubscriptionStatus.PENDING
    ):
        return f"Your subscription to {title} starts once you confirm it from our email."
    return None
