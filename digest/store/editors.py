"""Editor accounts: those kept in the store and those declared in the settings. I/O.

Two sources of accounts, one rule between them: **the settings win**. A name in
``DIGEST_EDITORS`` is checked against that hash only, and ``digest editors add`` refuses
it, because whoever deploys the app owns that configuration and a row in the database must
not be able to override it (or keep a person in after the operator rotated their hash). A
store row that a later ``DIGEST_EDITORS`` shadows is listed as such and never used.

``verify`` runs the KDF exactly once whatever the name, against an unusable hash when the
name is unknown, so its time does not tell which names exist. ``credential_tag`` lets a
stateless session end when its account is removed or its password changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update

from digest.errors import ConfigError, RefusedError
from digest.passwords import (
    BadHash,
    hash_password,
    name_problem,
    parse_hash,
    password_problem,
    unusable_hash,
    verify_password,
)
from digest.store.editorial_schema import editors

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EditorAccount:
    name: str
    source: str  # "store" or "settings"
    created_at: datetime | None  # None for an account from the settings
    shadowed: bool = False  # a store row whose name DIGEST_EDITORS also declares


class EditorStore:
    def __init__(
        self, engine: Engine, configured: Mapping[str, str] | None = None, clock: Clock = utc_now
    ) -> None:
        self.engine = engine
        self.configured = dict(configured or {})
        self.clock = clock
        for name, encoded in self.configured.items():
            try:
                parse_hash(encoded)
            except BadHash as exc:
                raise ConfigError(
                    f"setting DIGEST_EDITORS: the hash of {name!r}: {exc}; make one with "
                    "`digest editors hash`"
                ) from exc
        self._unknown = unusable_hash()

    def add(self, name: str, password: str, replace: bool = False) -> None:
        """Keep an account with ``password`` hashed; an existing name only with ``replace``."""
        problem = name_problem(name) or password_problem(password)
        if problem:
            raise RefusedError(problem)
        if name in self.configured:
            raise RefusedError(
                f"{name!r} is declared in DIGEST_EDITORS, which takes precedence over the "
                "store; change its hash there (`digest editors hash`)"
            )
        values = {"password_hash": hash_password(password), "created_at": self.clock()}
        with self.engine.begin() as conn:
            exists = conn.execute(select(editors.c.name).where(editors.c.name == name)).first()
            if exists and not replace:
                raise RefusedError(
                    f"an editor called {name!r} exists; pass --replace to set a new password"
                )
            if exists:
                conn.execute(update(editors).where(editors.c.name == name).values(**values))
            else:
                conn.execute(insert(editors).values(name=name, **values))

    def remove(self, name: str) -> bool:
        """Delete a store account; False when there was none by that name."""
        with self.engine.begin() as conn:
            return conn.execute(delete(editors).where(editors.c.name == name)).rowcount > 0

    def accounts(self) -> list[EditorAccount]:
        """Every account, from the store and the settings, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(editors.c.name, editors.c.created_at)).all()
        found = [
            EditorAccount(row.name, "store", row.created_at, row.name in self.configured)
            for row in rows
        ]
        found += [EditorAccount(name, "settings", None) for name in self.configured]
        return sorted(found, key=lambda a: (a.name, a.source))

    def verify(self, name: str, password: str) -> bool:
        """Whether ``name`` is an editor whose password is ``password``; one KDF run always."""
        encoded = self._hash_of(name)
        matches = verify_password(password, encoded or self._unknown)
        return matches and encoded is not None

    def credential_tag(self, name: str) -> str | None:
        """A short fingerprint of the account's current hash; None when there is no account.

        Sessions carry it: a new password (a new salt) or a removed account changes it, which
        ends every session made before. It reveals nothing of the hash it is taken from.
        """
        encoded = self._hash_of(name)
        if encoded is None:
            return None
        return hashlib.sha256(encoded.encode("ascii")).hexdigest()[:16]

    def _hash_of(self, name: str) -> str | None:
        if name in self.configured:
            return self.configured[name]
        with self.engine.connect() as conn:
            found = conn.execute(
                select(editors.c.password_hash).where(editors.c.name == name)
            ).scalar_one_or_none()
        return str(found) if found is not None else None
