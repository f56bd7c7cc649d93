"""Password hashing: scrypt with a random salt, its costs in the hash, constant-time compare,
and a malformed or tampered hash that verifies nothing (and never raises)."""

from __future__ import annotations

import base64

import pytest

from alerts.passwords import DEFAULT_PARAMS, ScryptParams, hash_password, needs_rehash, verify_password

FAST = ScryptParams(n=2**10)  # the format and the checks, without the deliberate cost


def test_a_hash_verifies_its_password_and_no_other() -> None:
    stored = hash_password("correct horse battery", FAST)
    assert verify_password("correct horse battery", stored)
    for wrong in ("correct horse batter", "Correct horse battery", "", "correct horse battery "):
        assert not verify_password(wrong, stored)


def test_the_hash_names_its_scheme_and_costs() -> None:
    scheme, n, r, p, salt, digest = hash_password("pw", FAST).split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "8", "1")
    assert len(base64.urlsafe_b64decode(salt + "==")) == 16 and len(base64.urlsafe_b64decode(digest + "=")) == 32


def test_the_default_costs_are_the_deliberate_ones() -> None:
    stored = hash_password("semon-demo")
    assert stored.startswith(f"scrypt${DEFAULT_PARAMS.n}$8$1$") and verify_password("semon-demo", stored)
    assert not needs_rehash(stored) and needs_rehash(hash_password("pw", FAST))


def test_every_hash_has_its_own_salt() -> None:
    first, second = hash_password("same", FAST), hash_password("same", FAST)
    assert first != second and first.split("$")[4] != second.split("$")[4]
    assert verify_password("same", first) and verify_password("same", second)


def test_unicode_passwords() -> None:
    stored = hash_password("电梯困人 96333", FAST)
    assert verify_password("电梯困人 96333", stored) and not verify_password("电梯困人 96334", stored)


def _flip(text: str) -> str:
    return ("B" if text[0] == "A" else "A") + text[1:]


def test_a_tampered_hash_verifies_nothing() -> None:
    stored = hash_password("secret-password", FAST)
    scheme, n, r, p, salt, digest = stored.split("$")
    for tampered in (
        "$".join([scheme, n, r, p, salt, _flip(digest)]),  # another digest
        "$".join([scheme, n, r, p, _flip(salt), digest]),  # another salt
        "$".join([scheme, str(int(n) * 2), r, p, salt, digest]),  # other costs
        "$".join([scheme, n, "9", p, salt, digest]),
        "$".join(["bcrypt", n, r, p, salt, digest]),  # another scheme
    ):
        assert not verify_password("secret-password", tampered), tampered


@pytest.mark.parametrize("stored", [
    "", "scrypt", "plaintext-password", "scrypt$1024$8$1$c2FsdA$", "scrypt$1000$8$1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGln",
    "scrypt$x$8$1$c2FsdA$ZGln", "scrypt$1024$8$1$!!!$ZGlnZXN0ZGlnZXN0ZGln",
    "scrypt$1073741824$8$1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGln",  # a cost meant to exhaust the machine
    "scrypt$1024$8$1$$ZGlnZXN0ZGlnZXN0ZGln",
])
def test_a_malformed_hash_is_false_not_an_error(stored: str) -> None:
    assert not verify_password("anything", stored)
    assert needs_rehash(stored)


def test_an_enormous_password_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        hash_password("x" * 2000, FAST)
    assert not verify_password("x" * 2000, hash_password("x" * 8, FAST))
