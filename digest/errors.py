"""The one exception tree of digest.

Every error the program means to report derives from ``DigestError``, so the CLI and the web
app can catch one type, print its message and choose an exit code. Lower-level errors
(httpx, SQLAlchemy, pydantic, XML parsers) are translated into this tree where they are
first caught, with ``raise ... from exc`` so the cause stays visible in tracebacks.

    DigestError
    ├── ConfigError            a setting or a configuration file is wrong
    ├── SourceError            a source (file, directory, URL) could not be read at all
    │   ├── UnknownFormatError     read, but it is not a feed, page or page export
    │   └── FetchError             an HTTP fetch failed (network, status, size cap)
    │       └── BlockedURLError        the URL is not allowed (scheme or private address)
    ├── ItemError              one item inside a source is malformed; the rest are kept
    ├── PlanningError          an edition cannot be planned (slot out of order, contention)
    ├── DeliveryError          a send could not be completed; unconfirmed rows stay pending
    │   ├── ProviderAuthError      the provider refused our key (401/403): the edition pauses
    │   ├── ProviderConfigError    a setting the chosen provider needs is missing or wrong
    │   └── RetryExhausted         (digest.deliver.http) a call kept failing; its rows retry later
    ├── WebhookError           a provider's webhook request cannot be taken
    │   ├── WebhookAuthError       its credentials or signature do not check out (401)
    │   └── MalformedWebhook       verified, but its body is not the provider's shape (400)
    ├── RefusedError           a subscriber change the rules forbid (a suppressed address),
    │                          or an operation the state forbids (sending a paused newsletter)
    ├── NotFoundError          no newsletter or edition by the name or id given
    └── StoreError             the database could not be opened or migrated

Messages say what happened and what to do, naming the setting, file, line or URL.
"""

from __future__ import annotations


class DigestError(Exception):
    """Root of every error digest reports to a user."""


class ConfigError(DigestError):
    """A setting or configuration file is invalid; the message names it."""


class SourceError(DigestError):
    """A whole source could not be read; other sources of the same run are still ingested."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class UnknownFormatError(SourceError):
    """The source was read but is neither a feed, an article page nor a page export."""


class FetchError(SourceError):
    """Fetching a URL failed: network error, HTTP status, timeout or size cap."""


class BlockedURLError(FetchError):
    """The URL is refused before any connection: wrong scheme or a non-public address."""


class ItemError(DigestError):
    """One item of a source is malformed; it is rejected and the rest of the batch is kept."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{reason}")
        self.reason = reason
        self.line = line


class PlanningError(DigestError):
    """An edition cannot be planned as asked; the message says what to do instead."""


class WebhookError(DigestError):
    """A provider's webhook request cannot be taken; nothing it says was applied."""


class WebhookAuthError(WebhookError):
    """The request's credentials or signature do not check out; the message names the check.

    It never contains a secret or the expected signature, only what was wrong.
    """


class MalformedWebhook(WebhookError):
    """The body passed verification but is not in the provider's documented shape."""


class RefusedError(DigestError):
    """A subscriber change the rules forbid, such as adding a suppressed address."""


class DeliveryError(DigestError):
    """A send could not be completed; what was not confirmed stays to be sent again."""


class ProviderAuthError(DeliveryError):
    """The provider refused our credentials; the message names the setting to fix."""


class ProviderConfigError(DeliveryError):
    """A setting the chosen provider needs is missing or malformed; nothing was claimed."""


class NotFoundError(DigestError):
    """No newsletter or edition answers to the name or id given (the API answers 404)."""


class StoreError(DigestError):
    """The store could not be opened, created or migrated."""
