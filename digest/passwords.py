"""Editors' password hashes: scrypt, written as a self-describing string. Compute only.

A hash reads ``scrypt$N$r$p$salt$key`` (salt and key in unpadded base64url). The cost
parameters travel inside the string, so they can be raised for new hashes later while every
hash already made (in the store or in ``DIGEST_EDITORS``) still verifies with its own.
Parameters read back from a string are bounded, so a hand-edited hash cannot make a login
allocate gigabytes.

scrypt rather than PBKDF2 because it is memory-hard (a GPU farm pays for memory per guess)
and ships with Python's hashlib; N=2**15, r=8 costs 32 MiB and about a fifth of a second,
which is OpenSSL's own default memory ceiling exactly, so ``maxmem`` is always passed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
SCHEME = "scrypt"


@dataclass(frozen=True, slots=True)
class Cost:
    """scrypt's parameters: CPU/memory cost ``n`` (a power of two), block size, parallelism."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def maxmem(self) -> int:
        """Bytes OpenSSL must be allowed: its V array and B buffer, and a mebibyte spare."""
        return 128 * self.r * (self.n + self.p + 2) + 2**20

    def problem(self) -> str | None:
        if self.n < 2**10 or self.n > 2**20 or self.n & (self.n - 1):
            return "N must be a power of two from 2**10 to 2**20"
        if not 1 <= self.r <= 32 or not 1 <= self.p <= 16:
            return "r must be 1 to 32 and p 1 to 16"
        if self.maxmem() > 2**30:
            return "N*r needs more than 1 GiB of memory"
        return None


CURRENT = Cost()
SALT_BYTES = 16
KEY_BYTES = 32


class BadHash(ValueError):
    """A string that is not a password hash this module made (or could have made)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    cost: Cost
    salt: bytes
    key: bytes


def hash_password(password: str, cost: Cost = CURRENT) -> str:
    """A fresh hash of ``password`` with a random salt, as the self-describing string."""
    salt = os.urandom(SALT_BYTES)
    return _format(cost, salt, _derive(password, salt, cost, KEY_BYTES))


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``, compared in constant time."""
    parsed = parse_hash(encoded)
    key = _derive(password, parsed.salt, parsed.cost, len(parsed.key))
    return hmac.compare_digest(key, parsed.key)


def parse_hash(encoded: str) -> Parsed:
    """The parameters, salt and key of a hash; ``BadHash`` says what is wrong with it."""
    fields = encoded.strip().split("$")
    if len(fields) != 6 or fields[0] != SCHEME:
        raise BadHash("not a password hash: expected scrypt$N$r$p$salt$key")
    try:
        cost = Cost(int(fields[1]), int(fields[2]), int(fields[3]))
        salt, key = _unb64(fields[4]), _unb64(fields[5])
    except (ValueError, binascii.Error) as exc:
        raise BadHash(
            "not a password hash: N, r, p must be numbers, salt and key base64url"
        ) from exc
    problem = cost.problem()
    if problem:
        raise BadHash(f"password hash parameters out of range: {problem}")
    if len(salt) < 8 or not 16 <= len(key) <= 64:
        raise BadHash("password hash salt or key has the wrong length")
    return Parsed(cost, salt, key)


def unusable_hash() -> str:
    """A well-formed hash no password matches, to spend the same time on an unknown name."""
    return _format(CURRENT, os.urandom(SALT_BYTES), os.urandom(KEY_BYTES))


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be an editor's, or None."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must have at most {MAX_PASSWORD} characters"
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` may not be an editor's login name, or None."""
    if NAME.fullmatch(name) is None:
        return (
            "an editor's name is 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return None


def _format(cost: Cost, salt: bytes, key: bytes) -> str:
    return "$".join((SCHEME, str(cost.n), str(cost.r), str(cost.p), _b64(salt), _b64(key)))


def _derive(password: str, salt: bytes, cost: Cost, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=cost.n,
        r=cost.r,
        p=cost.p,
        dklen=length,
        maxmem=cost.maxmem(),
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
