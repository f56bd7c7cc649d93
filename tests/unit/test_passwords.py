"""Password hashing: argon2id with a random salt and its costs in the hash, earlier scrypt hashes
still verifying (and due for a rehash), and a malformed or tampered hash that verifies nothing
(and never raises)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from web.passwords import DEFAULT_HASHER, hash_password, needs_rehash, verify_password

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # the format and checks, not the cost


def _scrypt(password: str, n: int = 2**10, salt: bytes = b"0123456789abcdef") -> str:
    """A hash as earlier versions stored it."""
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32, maxmem=64 * 1024 * 1024)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"scrypt${n}$8$1${b64(salt)}${b64(digest)}"


def test_a_hash_verifies_its_password_and_no_other() -> None:
    stored = hash_password("correct horse battery", FAST)
    assert verify_password("correct horse battery", stored)
    for wrong in ("correct horse batter", "Correct horse battery", "", "correct horse battery "):
        assert not verify_password(wrong, stored)


def test_the_hash_is_argon2id_naming_its_costs() -> None:
    stored = hash_password("pw", FAST)
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_the_default_costs_are_rfc_9106s() -> None:
    p = RFC_9106_LOW_MEMORY
    stored = hash_password("semon-demo")
    assert stored.startswith(f"$argon2id$v=19$m={p.memory_cost},t={p.time_cost},p={p.parallelism}$")
    assert verify_password("semon-demo", stored) and DEFAULT_HASHER.verify(stored, "semon-demo")
    assert not needs_rehash(stored) and needs_rehash(hash_password("pw", FAST))


def test_earlier_scrypt_hashes_verify_and_need_a_rehash() -> None:
    stored = _scrypt("old-password")
    assert verify_password("old-password", stored)
    assert not verify_password("old-passwort", stored)
    assert needs_rehash(stored)


def test_every_hash_has_its_own_salt() -> None:
    first, second = hash_password("same", FAST), hash_password("same", FAST)
    assert first != second and first.split("$")[4] != second.split("$")[4]
    assert verify_password("same", first) and verify_password("same", second)


def test_unicode_passwords() -> None:
    stored = hash_password("电梯困人 96333", FAST)
    assert verify_password("电梯困人 96333", stored) and not verify_password("电梯困人 96334", stored)


def _other(text: str) -> str:
    """The same length, certainly different (whatever its first character is)."""
    return ("B" if text[0] == "A" else "A") + text[1:]


def test_a_tampered_hash_verifies_nothing() -> None:
    stored = hash_password("secret-password", FAST)
    _, scheme, version, costs, salt, digest = stored.split("$")
    for tampered in (
        "$".join(["", scheme, version, costs, salt, _other(digest)]),  # another digest
        "$".join(["", scheme, version, costs, _other(salt), digest]),  # another salt
        "$".join(["", scheme, version, "m=2048,t=1,p=1", salt, digest]),  # other costs
        "$".join(["", "argon2i", version, costs, salt, digest]),  # another variant
    ):
        assert tampered != stored
        assert not verify_password("secret-password", tampered), tampered
    old = _scrypt("secret-password")
    scheme_, n, r, p, salt_, digest_ = old.split("$")
    assert not verify_password("secret-password", "$".join([scheme_, n, r, p, salt_, _other(digest_)]))
    assert not verify_password("secret-password", "$".join([scheme_, str(int(n) * 2), r, p, salt_, digest_]))


@pytest.mark.parametrize("stored", [
    "", "scrypt", "plaintext-password", "$argon2id$", "$argon2id$v=19$m=x,t=1,p=1$c2FsdHNhbHQ$ZGln",
    "$argon2id$v=19$m=1073741824,t=1,p=1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGln",  # a cost meant to exhaust the machine
    "$argon2id$v=19$m=1024,t=100000,p=1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGln",
    "$argon2id$v=19$m=1024,t=1,p=1$!!!$ZGlnZXN0ZGlnZXN0ZGln",
    "scrypt$1024$8$1$c2FsdA$", "scrypt$1000$8$1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGln",
    "scrypt$x$8$1$c2FsdA$ZGln", "scrypt$1073741824$8$1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGln",
])
def test_a_malformed_hash_is_false_not_an_error(stored: str) -> None:
    assert not verify_password("anything", stored)
    assert needs_rehash(stored)


def test_an_enormous_password_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        hash_password("x" * 2000, FAST)
    assert not verify_password("x" * 2000, hash_password("x" * 8, FAST))
