"""Password hashing: argon2id through argon2-cffi, with the hashes stored before it (scrypt,
``scrypt$n$r$p$salt$digest``) still verifying until their owner's next login rehashes them.

A new hash is argon2-cffi's PHC string (``$argon2id$v=19$m=...,t=...,p=...$salt$digest``), which
names its own costs, so they can be raised later: ``needs_rehash`` is True for any hash made with
other costs than today's, and for every scrypt hash. Hashing costs tens of milliseconds of CPU and
``memory_cost`` KiB of memory on purpose: call these from a thread (``asyncio.to_thread``), a few
at a time, never on the event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

SCHEME = "argon2id"
MAX_PASSWORD_BYTES = 1024  # argon2 takes anything, but a megabyte "password" is an attack

# RFC 9106's second recommendation (argon2id, t=3, 64 MiB, p=4), argon2-cffi's default profile:
# above OWASP's minimum (19 MiB, t=2); about 0.13 s per hash on a busy 2-core machine.
DEFAULT_HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
# A stored hash is not trusted to name any cost: a tampered row must not make one login eat the machine.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_TIME_COST = 32
_MAX_PARALLELISM = 16

# The scrypt hashes of earlier versions: verified, never made.
_SCRYPT = "scrypt"
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16


def hash_password(password: str, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    """A new argon2id hash with a fresh random salt; ValueError for a password over
    ``MAX_PASSWORD_BYTES`` bytes (UTF-8)."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password is at most {MAX_PASSWORD_BYTES} bytes")
    return hasher.hash(password)


def _argon2_costs_ok(stored: str) -> bool:
    """The costs an argon2 hash names are within bounds (checked before any work is done)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[1] not in ("argon2id", "argon2i", "argon2d"):
        return False
    try:
        costs = dict(item.split("=", 1) for item in parts[3].split(","))
        m, t, p = int(costs["m"]), int(costs["t"]), int(costs["p"])
    except (ValueError, KeyError):
        return False
    return 0 < m <= _MAX_MEMORY_KIB and 0 < t <= _MAX_TIME_COST and 0 < p <= _MAX_PARALLELISM


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _verify_scrypt(password: str, stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCRYPT:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        return False
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if not salt or not 16 <= len(expected) <= 64:
        return False
    try:
        actual = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                                maxmem=2 * 128 * r * n * p + 1024 * 1024, dklen=len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def verify_password(password: str, stored: str, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    """Whether ``password`` matches ``stored`` (argon2, or an earlier scrypt hash); False, never
    an exception, for a malformed or tampered hash or an over-long password."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return False
    if stored.startswith(_SCRYPT + "$"):
        return _verify_scrypt(password, stored)
    if not _argon2_costs_ok(stored):
        return False
    try:
        return hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    """True when the hash is not argon2id with today's costs (rehash it at the next login)."""
    if not _argon2_costs_ok(stored):
        return True
    try:
        return hasher.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True
