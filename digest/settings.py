"""Settings: the only module that reads the environment.

Every setting comes from an environment variable with the ``DIGEST_`` prefix or from a
``.env`` file in the working directory (the environment wins). ``.env.example`` lists each
one with a comment; a test keeps the two in step. A bad value stops the program with a
``ConfigError`` that names the variable, so nobody has to guess which of them is wrong.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from digest.errors import ConfigError

ENV_PREFIX = "DIGEST_"


class Settings(BaseSettings):
    """All of digest's settings, validated once at start-up and then handed in."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = Field(
        default=Path("data"),
        description="Folder for the SQLite store and other local files; created on first use.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; empty means a SQLite file in data_dir.",
    )
    newsletters_file: Path = Field(
        default=Path("newsletters.toml"),
        description="The editors' TOML file declaring the newsletters.",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="Folder of templates overriding the defaults file by file; empty: defaults.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public address of digest's web pages (unsubscribe, preferences, web view).",
    )
    html_budget_bytes: int = Field(
        default=95_000,
        ge=20_000,
        le=102_000,
        description="Largest HTML an email may have; Gmail clips past about 102 KB.",
    )
    caniemail_dir: Path | None = Field(
        default=None,
        description="caniemail's support data for the linter; empty: ../shared/corpora/caniemail.",
    )
    secret_key: str | None = Field(
        default=None,
        min_length=16,
        description="Secret that signs personal links; empty: one is made in DATA_DIR/secret.key.",
    )
    old_secret_keys: list[str] = Field(
        default_factory=list,
        description="JSON list of earlier secrets still accepted for links already sent.",
    )
    unsubscribe_mailbox: str | None = Field(
        default=None,
        description="Address for List-Unsubscribe mailto; empty: unsubscribe@ the sender's domain.",
    )
    outbox_dir: Path | None = Field(
        default=None,
        description="Folder of the outbox provider's .eml files; empty: DATA_DIR/outbox.",
    )
    provider: Literal["outbox", "smtp", "postmark", "sendgrid", "mailgun", "resend"] = Field(
        default="outbox",
        description="Who delivers the email: outbox writes .eml files; the rest send for real.",
    )
    send_concurrency: int = Field(
        default=4, ge=1, le=32, description="Batches on the wire at once while sending."
    )
    send_lease_seconds: int = Field(
        default=300,
        ge=1,
        description="How long a claimed batch is a worker's before others may take it over.",
    )
    uncertain_policy: Literal["resend", "review"] = Field(
        default="resend",
        description="Rows found mid-send after a crash, for a provider without idempotency.",
    )
    pause_after_failures: int = Field(
        default=5,
        ge=1,
        description="Batches in a row that deliver nothing before the edition pauses.",
    )
    provider_base_url: str | None = Field(
        default=None,
        description="Base URL of the provider's API; empty: its public one (set for EU regions).",
    )
    send_rate: float | None = Field(
        default=None,
        gt=0,
        description="Messages per second at most; empty: the provider's default.",
    )
    send_calls: int = Field(default=4, ge=1, le=64, description="API calls in flight at once.")
    provider_timeout: float = Field(
        default=30.0, gt=0, description="Seconds per API call or SMTP reply."
    )
    provider_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts per API call (throttled, 5xx, timeouts)."
    )
    provider_max_wait: float = Field(
        default=120.0, gt=0, description="Longest wait a provider may ask for before we move on."
    )
    postmark_server_token: str | None = Field(
        default=None, description="Postmark server API token."
    )
    postmark_message_stream: str = Field(
        default="broadcast", min_length=1, description="Postmark message stream for newsletters."
    )
    sendgrid_api_key: str | None = Field(default=None, description="SendGrid API key.")
    mailgun_api_key: str | None = Field(default=None, description="Mailgun sending API key.")
    mailgun_domain: str | None = Field(default=None, description="Mailgun sending domain.")
    mailgun_per_recipient_headers: bool = Field(
        default=True, description="One Mailgun call for many recipients with per-recipient headers."
    )
    resend_api_key: str | None = Field(default=None, description="Resend API key.")
    smtp_host: str | None = Field(default=None, description="SMTP relay host.")
    smtp_port: int | None = Field(default=None, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(default=None, description="SMTP AUTH user.")
    smtp_password: str | None = Field(default=None, description="SMTP AUTH password.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="How the SMTP connection is secured."
    )
    smtp_connections: int = Field(default=2, ge=1, le=32, description="SMTP connections kept open.")
    smtp_bounce_address: str | None = Field(default=None, description="MAIL FROM for bounces.")
    postmark_webhook_username: str | None = Field(
        default=None, description="User in the Postmark webhook URL's basic auth."
    )
    postmark_webhook_password: str | None = Field(
        default=None, description="Password in the Postmark webhook URL's basic auth."
    )
    sendgrid_webhook_public_key: str | None = Field(
        default=None,
        description="SendGrid's signed event webhook verification key (base64 ECDSA public key).",
    )
    mailgun_webhook_signing_key: str | None = Field(
        default=None, description="Mailgun's HTTP webhook signing key."
    )
    resend_webhook_secret: str | None = Field(
        default=None, description="Resend's webhook signing secret (whsec_...)."
    )
    soft_bounce_limit: int = Field(
        default=3, ge=1, description="Soft bounces of one address before it is suppressed."
    )
    base_url: str = Field(
        default="https://news.example.com",
        description="Public address of the publication, for articles whose source has no URL.",
    )
    publication_timezone: str = Field(
        default="UTC",
        description="IANA zone of dates that carry no time of day (page exports).",
    )
    default_section: str = Field(
        default="General",
        description="Section of a feed item or page that names none.",
    )
    section_map: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object mapping feed categories (any case) to section names.",
    )
    fetch_timeout: float = Field(default=10.0, gt=0, description="Seconds per HTTP fetch.")
    fetch_max_bytes: int = Field(
        default=10_000_000, gt=0, description="Largest document a fetch will download."
    )
    user_agent: str = Field(
        default="digest/0.1 (newsletter digest generator)",
        min_length=1,
        description="User-Agent header of every fetch.",
    )
    allow_private_urls: bool = Field(
        default=False,
        description="Allow fetching loopback, private and link-local addresses.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", description="Threshold of the program's log lines on stderr."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="Log lines as JSON objects or text; auto: JSON unless stderr is a terminal.",
    )
    editors: dict[str, str] = Field(
        default_factory=dict,
        description="JSON {name: password hash} of editor accounts (`digest editors hash`).",
    )
    session_hours: int = Field(
        default=12,
        ge=1,
        le=24 * 30,
        description="Hours an editor's login lasts.",
    )
    api_token: str | None = Field(
        default=None,
        min_length=16,
        description="Bearer token of the ops API under /api/; empty: the API refuses everyone.",
    )
    queue: Literal["none", "procrastinate"] = Field(
        default="none",
        description="Where send batches run: none, in this process; procrastinate, as jobs"
        " in PostgreSQL that `digest worker` processes run on any machine.",
    )
    worker_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Batch jobs one `digest worker` process runs at once.",
    )
    dispatch_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often `digest run` looks for deliveries that have fallen due.",
    )
    alert_failure_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of an edition's finished deliveries failed above which ops are alerted.",
    )
    alert_feed_failures: int = Field(
        default=3,
        ge=1,
        description="Fetches in a row a feed may fail before ops are alerted.",
    )

    @field_validator("base_url", "public_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://news.example.com")
        return value.rstrip("/")

    @field_validator("publication_timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name like Europe/Paris"
            ) from exc
        return value

    @field_validator(
        "database_url",
        "templates_dir",
        "caniemail_dir",
        "secret_key",
        "api_token",
        "unsubscribe_mailbox",
        "outbox_dir",
        "provider_base_url",
        "send_rate",
        "postmark_server_token",
        "sendgrid_api_key",
        "mailgun_api_key",
        "mailgun_domain",
        "resend_api_key",
        "smtp_host",
        "smtp_port",
        "smtp_username",
        "smtp_password",
        "smtp_bounce_address",
        "postmark_webhook_username",
        "postmark_webhook_password",
        "sendgrid_webhook_public_key",
        "mailgun_webhook_signing_key",
        "resend_webhook_secret",
        mode="before",
    )
    @classmethod
    def _empty_means_default(cls, value: Any) -> Any:
        return value or None

    @property
    def outbox(self) -> Path:
        return self.outbox_dir or self.data_dir / "outbox"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.publication_timezone)

    @property
    def store_url(self) -> str:
        """The database URL in effect: the setting, or the SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'digest.sqlite3').resolve()}"

    def log_level_number(self) -> int:
        return int(getattr(logging, self.log_level))

    def queue_url(self) -> str:
        """The PostgreSQL URL the job queue lives in; a ConfigError without one."""
        url = self.store_url
        if not url.startswith(("postgresql", "postgres")):
            raise ConfigError(
                "DIGEST_QUEUE=procrastinate needs the store on PostgreSQL: set "
                "DIGEST_DATABASE_URL=postgresql+psycopg://USER@HOST/DB, or DIGEST_QUEUE=none"
            )
        return url


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning a validation failure into a message naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc
    except SettingsError as exc:  # a value that is not even JSON, for a JSON-typed setting
        field = re.search(r'field "(\w+)"', str(exc))
        name = ENV_PREFIX + field.group(1).upper() if field else "a DIGEST_ setting"
        raise ConfigError(
            f"setting {name}: not valid JSON; write it like the example in .env.example"
        ) from exc


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = ENV_PREFIX + field.upper()
        given = error.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        lines.append(f"setting {name}{shown}: {error['msg']}")
    lines.append("Fix it in the environment or in .env; .env.example describes every setting.")
    return "\n".join(lines)
