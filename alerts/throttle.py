"""Login throttling: after a few wrong passwords for one username, that username is refused
for a while, which makes guessing a password online impractically slow. Per process (several
API processes each count their own), bounded in memory, with time passed in so it is pure.

Counting per username (not per address) is what protects an account; it also lets someone lock
a user out for ``lockout_s`` at a time, the usual trade.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Failures:
    count: int
    first_at: float
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(self, max_failures: int, window_s: float, max_tracked: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s  # failures are counted over this long, and a lockout lasts this long
        self.max_tracked = max_tracked
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        if entry.locked_until > now:
            return entry.locked_until - now
        if entry.locked_until or now - entry.first_at > self.window_s:
            del self._failures[key]  # the lockout is served, or the failures are old: a clean slate
        return 0.0

    def failed(self, key: str, now: float) -> None:
        entry = self._failures.get(key)
        if entry is None or now - entry.first_at > self.window_s:
            entry = self._failures[key] = _Failures(0, now)
        entry.count += 1
        self._failures.move_to_end(key)
        if entry.count >= self.max_failures:
            entry.locked_until = now + self.window_s
        while len(self._failures) > self.max_tracked:  # bounded: the oldest entries go first
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
