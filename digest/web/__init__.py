"""The subscriber-facing web pages: a FastAPI app built by ``create_app`` from digest's parts.

I/O. ``digest serve`` runs it on uvicorn; routes live one concern per module (subscribe,
confirm, unsubscribe, preferences, view, health) and share ``site.Site``.
"""

from digest.web.app import create_app

__all__ = ["create_app"]
