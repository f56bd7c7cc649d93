"""Login throttling, checked before any password is hashed (cheap checks first).

- Per address: at most ``address_in_flight`` logins at a time, and after
  ``address_max_failures`` wrong passwords within ``window_s`` the address is refused until
  that window ends. One address cannot flood the password hashing, whoever it names.
- Per (username, address): the first ``free_failures`` wrong passwords cost nothing; each
  further one doubles a delay before the next try (``base_delay_s``, 2x, 4x … capped at
  ``window_s``). Guessing one account's password from one address gets slow quickly, while
  the account's owner, from another address, is never held up: nothing locks a username
  as such.

A success forgives its (username, address) pair only: an attacker holding one account cannot
clear its address's failures with it. Per process (several API processes each count their
own), bounded in memory (the oldest entries go first), with time passed in so it is pure.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Pair:
    failures: int
    last_at: float


@dataclass(slots=True)
class _Address:
    failures: int
    first_at: float
    in_flight: int = 0


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    free_failures: int = 5
    base_delay_s: float = 1.0
    window_s: float = 300.0
    address_max_failures: int = 50
    address_in_flight: int = 2
    max_tracked: int = 10_000


class LoginThrottle:
    def __init__(self, limits: ThrottleLimits = ThrottleLimits()) -> None:
        self.limits = limits
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()
        self._addresses: OrderedDict[str, _Address] = OrderedDict()

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` wrong passwords in a row for one (username, address)."""
        over = failures - self.limits.free_failures
        if over < 0:
            return 0.0
        return float(min(self.limits.window_s, self.limits.base_delay_s * 2.0 ** min(over, 40)))

    def retry_after(self, username: str, address: str, now: float) -> float:
        """Seconds until this username may be tried again from this address; 0 when it may now.
        Forgets what is old on the way."""
        wait = 0.0
        entry = self._addresses.get(address)
        if entry is not None:
            if now - entry.first_at > self.limits.window_s:
                entry.failures, entry.first_at = 0, now
            elif entry.failures >= self.limits.address_max_failures:
                wait = entry.first_at + self.limits.window_s - now
            if entry.failures == 0 and entry.in_flight == 0:
                del self._addresses[address]
        pair = self._pairs.get((username, address))
        if pair is not None:
            if now - pair.last_at > self.limits.window_s:
                del self._pairs[(username, address)]
            else:
                wait = max(wait, pair.last_at + self.delay(pair.failures) - now)
        return max(wait, 0.0)

    def begin(self, address: str, now: float) -> bool:
        """Count one login in flight from ``address``; False (and nothing counted) when that
        address already has ``address_in_flight`` under way. Pair each True with ``end``."""
        entry = self._address(address, now)
        if entry.in_flight >= self.limits.address_in_flight:
            return False
        entry.in_flight += 1
        return True

    def end(self, address: str) -> None:
        entry = self._addresses.get(address)
        if entry is not None and entry.in_flight > 0:
            entry.in_flight -= 1

    def failed(self, username: str, address: str, now: float) -> None:
        pair = self._pairs.get((username, address))
        if pair is None:
            pair = self._pairs[(username, address)] = _Pair(0, now)
        pair.failures += 1
        pair.last_at = now
        self._pairs.move_to_end((username, address))
        self._address(address, now).failures += 1
        self._bound()

    def succeeded(self, username: str, address: str) -> None:
        """Forgive the pair, and take back the one failure ``failed`` counted ahead for this login."""
        self._pairs.pop((username, address), None)
        entry = self._addresses.get(address)
        if entry is not None and entry.failures > 0:
            entry.failures -= 1

    def _address(self, address: str, now: float) -> _Address:
        entry = self._addresses.get(address)
        if entry is None:
            entry = self._addresses[address] = _Address(0, now)
        self._addresses.move_to_end(address)
        self._bound()
        return entry

    def _bound(self) -> None:
        while len(self._pairs) > self.limits.max_tracked:
            self._pairs.popitem(last=False)
        while len(self._addresses) > self.limits.max_tracked:
            # An address with logins under way is kept (its count must come back to zero).
            address, entry = next(iter(self._addresses.items()))
            self._addresses.pop(address)
            if entry.in_flight:
                self._addresses[address] = entry
                break
