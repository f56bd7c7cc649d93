"""Device profiles from the equipment register: whether a device reports its own codes, its
rated values, whether it may be used at all (inspection overdue or failed, or stopped), and
the district it stands in (its alarms' district: the register's, never read from its code).
Re-read in the background; a device the register does not know gets the fallback."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, NoReturn, Protocol

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from semon.alarm_types import EntrapmentThresholds
from semon.backoff import Backoff
from semon.periodic import every
from semon.profile import EXPIRED_REASONS, DeviceProfile
from semon.protocol.codes import table_names
from semon.protocol.models import ServiceMode
from semon.protocol.topics import Kind
from semon.today import register_today

log = logging.getLogger(__name__)

ProfileLookup = Callable[[str, Kind], DeviceProfile]


class RegisterUnit(Protocol):
    """A unit of the register as the rules read it (``registry.store.MonitoredUnit``)."""

    @property
    def registration_code(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def rated(self) -> dict[str, Any]: ...
    @property
    def status(self) -> str: ...
    @property
    def fit_for_use(self) -> bool: ...
    @property
    def next_due(self) -> date | None: ...
    @property
    def district_code(self) -> str: ...


UnitReader = Callable[[AsyncConnection[Any]], Awaitable[Sequence[RegisterUnit]]]
"""The register's own read of its monitored units (``registry.store.monitored_units``), handed
over by the composition root: the rules do not read the register's tables themselves."""


def _entrapment(rated: dict[str, Any], device: str) -> dict[str, Any]:
    """The unit's own entrapment thresholds (register columns ``entrapment_*``) as fields of
    ``EntrapmentThresholds``. A value the rules cannot take is logged and skipped."""
    override: dict[str, Any] = {}
    for key, field_name, kind in (("entrapment_outside_door_zone_s", "outside_door_zone_s", float),
                                  ("entrapment_in_door_zone_s", "in_door_zone_s", float),
                                  ("entrapment_min_detections", "min_detections", int)):
        value = rated.get(key)
        if value is None:
            continue
        whole = kind is int and isinstance(value, int | float) and not isinstance(value, bool) and value >= 1 \
            and float(value).is_integer()
        number = kind is float and isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value) and value >= 0
        if not (whole or number):
            log.warning("register: %s of %s is %r, not a %s; the city's setting applies", key, device, value,
                        "whole number from 1" if kind is int else "number from 0")
            continue
        override[field_name] = kind(value)
    modes = rated.get("entrapment_held_modes")
    if isinstance(modes, list) and all(isinstance(m, str) for m in modes):
        modes = " ".join(modes) or "none"
    if modes is not None and not isinstance(modes, str):
        log.warning("register: entrapment_held_modes of %s is %r, not a list of modes; the city's setting applies",
                    device, modes)
    if isinstance(modes, str):
        names = frozenset(modes.split()) - {"none"}
        known = {str(m) for m in ServiceMode}
        if names <= known:
            override["held_modes"] = names
        else:
            log.warning("register: entrapment_held_modes of %s names unknown modes %s; the city's setting applies",
                        device, sorted(names - known))
    return override


def profile_from_row(category: str, rated: dict[str, Any], status: str, fit: bool, next_due: date | None,
                     today: date, base: EntrapmentThresholds | None = None, device: str = "", *,
                     district_code: str | None = None) -> DeviceProfile:
    """A unit's profile from its register row. ``base``: the city's entrapment thresholds, which
    the unit's own ``entrapment_*`` values override one by one; ``district_code``: the district
    the register puts it in."""
    reasons = tuple(reason for reason, holds in zip(
        EXPIRED_REASONS, (status == "stopped", not fit, next_due is not None and next_due < today), strict=True)
        if holds)
    expired = bool(reasons)
    table = rated.get("code_table")
    kind = Kind.ELEVATOR if category == "elevator" else Kind.BOILER
    if table is not None and table not in table_names(kind):
        log.warning("register: code table %r of %s is not shipped for %s; the default applies", table, device, kind)
        table = None
    common: dict[str, Any] = {"reports_events": bool(rated.get("reports_events", True)),
                              "inspection_expired": expired,
                            "inspection_expired_reasons": reasons, "code_table": table, "district_code": district_code}
    if kind is Kind.ELEVATOR:
        own = _entrapment(rated, device)
        entrapment = replace(base or EntrapmentThresholds(), **own) if own else None
        return DeviceProfile(Kind.ELEVATOR, rated_speed_mps=rated.get("rated_speed_mps"), entrapment=entrapment,
                             **common)
    return DeviceProfile(Kind.BOILER, rated_pressure_mpa=rated.get("rated_pressure_mpa"),
                         rated_outlet_temp_c=rated.get("rated_outlet_temp_c"),
                         high_water_mm=rated.get("high_water_mm"),
                         extreme_low_water_mm=rated.get("extreme_low_water_mm"), **common)


class RegisterProfiles:
    def __init__(self, units: UnitReader, fallback: ProfileLookup | None = None,
                 base: EntrapmentThresholds | None = None) -> None:
        """``units``: the register's read of its monitored units; ``base``: the city's entrapment
        thresholds, which a unit's own values override."""
        self._units = units
        self._fallback = fallback or (lambda _device, kind: DeviceProfile(kind))
        self._base = base
        self.profiles: dict[str, DeviceProfile] = {}

    def __call__(self, device_id: str, kind: Kind) -> DeviceProfile:
        return self.profiles.get(device_id) or self._fallback(device_id, kind)

    async def load(self, pool: AsyncConnectionPool, today: date) -> dict[str, DeviceProfile]:
        async with pool.connection(timeout=5) as conn:
            units = await self._units(conn)
        self.profiles = {u.registration_code: profile_from_row(u.category, u.rated, u.status, u.fit_for_use, u.next_due,
                                                               today, self._base, u.registration_code,
                                                               district_code=u.district_code)
                         for u in units}
        return self.profiles

    async def run(self, pool: AsyncConnectionPool, interval_s: float,
                  on_load: Callable[[dict[str, DeviceProfile]], None],
                  today: Callable[[], date] = register_today, *, backoff: Backoff) -> NoReturn:
        """Re-read every ``interval_s`` (``semon.periodic``, with ``backoff``); the first read is the caller's,
        before the engine starts. A failed read keeps the last profiles."""

        async def reload() -> None:
            on_load(await self.load(pool, today()))  # the register's date, not the UTC one

        await every("equipment register read (rule profiles)", interval_s, reload, log=log, backoff=backoff,
                    first_after_s=interval_s)
