"""The double opt-in mail: one per sign-up, so it is compiled per message. Computes only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from digest.render.context import LANG
from digest.render.links import safe_link
from digest.render.personal import PersonalTemplate, Placeholders
from digest.render.templates import TemplateSet
from digest.render.variants import compile_mjml


@dataclass(frozen=True, slots=True)
class ConfirmationMail:
    subject: str
    html: str
    text: str


def render_confirmation(
    templates: TemplateSet,
    publication: Mapping[str, Any],
    newsletter: Mapping[str, Any],
    confirm_url: str,
    values: Mapping[str, str],
) -> ConfirmationMail:
    """The confirmation mail for one sign-up; ``values`` are the personal fields."""
    link = safe_link(confirm_url)
    if link is None:
        raise ValueError(f"the confirmation link must be http(s), got {confirm_url!r}")
    title = f"Confirm your subscription to {newsletter['title']}"
    context = {
        "lang": LANG,
        "title": title,
        "preheader": f"One click and {newsletter['title']} starts arriving.",
        "publication": publication,
        "newsletter": newsletter,
        "confirm_url": link,
        "personal": Placeholders(),
    }
    html = PersonalTemplate.parse(compile_mjml(templates.render("email/confirm.mjml", context)))
    text = PersonalTemplate.parse(templates.render("email/confirm.txt", context))
    return ConfirmationMail(title, html.fill(values), text.fill(values))
