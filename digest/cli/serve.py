"""``digest serve``: the subscriber web pages on uvicorn, bound to this machine by default."""

from __future__ import annotations

import click
import uvicorn

from digest.cli.app import cli, settings_of
from digest.web import create_app
from digest.wiring import build


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; keep 127.0.0.1 behind a reverse proxy on this machine.",
)
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the subscriber pages: sign-up, confirm, preferences, unsubscribe, web view.

    Links in emails point at DIGEST_PUBLIC_URL, so set it to the address people reach
    this server at (through the proxy). Run as many copies as you like: they share the
    store, rate limits included. GET /healthz answers {"status": "ok"}.

    \b
    Example:
      digest serve
      DIGEST_PUBLIC_URL=https://news.example.com digest serve --port 8080
    """
    settings = settings_of(ctx)
    with build(settings) as parts:
        app = create_app(parts)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            proxy_headers=True,  # X-Forwarded-For from a proxy on 127.0.0.1 names the client
            server_header=False,
        )
