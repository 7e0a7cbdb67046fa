"""Rendering the subscriber pages from ``templates/web/``. Reads template files.

Pages go through ``TemplateSet.page``, so they are autoescaped, checked at start-up with
every other template, and overridable file by file through ``DIGEST_TEMPLATES_DIR`` like
the emails. Every page gets the publication and the app's path prefix (``root``), so links
between pages keep working behind a proxy that mounts the app under a path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from digest.newsletter_model import Publication
from digest.render.templates import TemplateSet


class Pages:
    def __init__(self, templates: TemplateSet, publication: Publication) -> None:
        self.templates = templates
        self.publication = {
            "name": publication.name,
            "postal_address": publication.postal_address,
        }

    def render(
        self,
        request: Request,
        name: str,
        title: str,
        context: Mapping[str, Any] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        values = {
            "title": title,
            "publication": self.publication,
            "root": root_of(request),
            **(context or {}),
        }
        return HTMLResponse(self.templates.page(name, values), status_code=status)

    def error(
        self,
        request: Request,
        status: int,
        title: str,
        message: str,
        action: tuple[str, str] | None = None,
    ) -> HTMLResponse:
        """The friendly page of a 4xx or 5xx; ``action`` is an optional (url, label) way on."""
        link = {"url": action[0], "label": action[1]} if action else None
        return self.render(
            request, "error.html", title, {"message": message, "action": link}, status
        )


def root_of(request: Request) -> str:
    """The path the app is mounted under ("" at the root of its host)."""
    return str(request.scope.get("root_path", "")).rstrip("/")
