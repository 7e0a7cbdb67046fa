"""The outbox provider: each message written as an ``.eml`` file in a folder. I/O.

The embedded default, for a machine with no email service: every message is a complete
RFC 5322 file a mail client can open. Files are written to a temporary name and renamed,
so a reader never sees half a message, and named by Message-ID, so sending the same
message twice leaves one file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from digest.deliver.base import Batch, Outcome, Provider, Request, Result

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, message_id: str) -> Path:
        return self.folder / f"{_UNSAFE.sub('_', message_id)}.eml"

    def write(self, message_id: str, raw: bytes) -> Path:
        """Store one message atomically; returns its file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path_for(message_id)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".sending-", suffix=".eml")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(raw)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target


class OutboxProvider(Provider):
    """The outbox as a provider: every envelope written as its own complete message."""

    name = "outbox"
    max_batch = 200
    idempotent = True  # a message is a file named by its Message-ID: writing it twice is one file

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def build(self, batch: Batch) -> list[Request]:
        return [Request([envelope], None) for envelope in batch.envelopes]

    async def post(self, request: Request, batch: Batch) -> list[Result]:
        (envelope,) = request.envelopes
        try:
            path = self.outbox.write(envelope.message_id, batch.mime(envelope))
        except OSError as exc:
            error = f"cannot write to the outbox {self.outbox.folder}: {exc.strerror}"
            return [Result(envelope.delivery_id, Outcome.RETRY, error=error)]
        return [Result(envelope.delivery_id, Outcome.SENT, provider_message_id=path.name)]
