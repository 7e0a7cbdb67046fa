"""The ``digest`` command line: the edge where settings become parts and errors become exits.

Each command lives in its own module and registers itself on the group in ``app``.
"""

from digest.cli import (
    articles,
    check,
    db,
    demo,
    editions,
    editors,
    ingest,
    operate,
    preview,
    queue_status,
    run,
    send,
    serve,
    subscribers,
    worker,
)
from digest.cli.app import cli, main

__all__ = [
    "articles",
    "check",
    "cli",
    "db",
    "demo",
    "editions",
    "editors",
    "ingest",
    "main",
    "operate",
    "preview",
    "queue_status",
    "run",
    "send",
    "serve",
    "subscribers",
    "worker",
]
