"""Password hashing with scrypt from the standard library (no new dependency).

A hash is ``scrypt$n$r$p$salt$digest`` (salt and digest in unpadded URL-safe base64), so the cost
parameters can be raised later without invalidating the hashes already stored. Hashing costs
about 0.1 s of CPU on purpose: call these from a thread (``asyncio.to_thread``), never on the
event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCHEME = "scrypt"
MAX_PASSWORD_BYTES = 1024  # scrypt takes anything, but a megabyte "password" is an attack


@dataclass(frozen=True, slots=True)
class ScryptParams:
    n: int = 2**15  # about 0.08 s and 32 MiB on the reference machine
    r: int = 8
    p: int = 1
    salt_bytes: int = 16
    dklen: int = 32

    def maxmem(self) -> int:
        return 2 * 128 * self.r * self.n * self.p + 1024 * 1024  # what scrypt needs, with headroom


DEFAULT_PARAMS = ScryptParams()
# A stored hash is not trusted to name any cost: a tampered row must not make one login eat the machine.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=params.n, r=params.r, p=params.p,
                          maxmem=params.maxmem(), dklen=params.dklen)


def hash_password(password: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """A new hash with a fresh random salt."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password is at most {MAX_PASSWORD_BYTES} bytes")
    salt = secrets.token_bytes(params.salt_bytes)
    digest = _derive(password, salt, params)
    return f"{SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        return None
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return None
    if not salt or not 16 <= len(digest) <= 64:
        return None
    return ScryptParams(n, r, p, len(salt), len(digest)), salt, digest


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False, never an exception, for a malformed hash."""
    parsed = _parse(stored)
    if parsed is None or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return False
    params, salt, expected = parsed
    try:
        actual = _derive(password, salt, params)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """True when the hash was made with other costs than today's (rehash at the next login)."""
    parsed = _parse(stored)
    return parsed is None or (parsed[0].n, parsed[0].r, parsed[0].p) != (params.n, params.r, params.p)
