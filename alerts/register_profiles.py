"""Device profiles from the equipment register: whether a device reports its own codes, its
rated values, and whether it may be used at all (inspection overdue or failed, or stopped).
Re-read in the background; a device the register does not know gets the fallback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.rules import DeviceProfile
from semon.protocol.topics import Kind
from semon.today import register_today

log = logging.getLogger(__name__)

ProfileLookup = Callable[[str, Kind], DeviceProfile]


def profile_from_row(category: str, rated: dict[str, Any], status: str, fit: bool, next_due: date | None,
                     today: date) -> DeviceProfile:
    expired = status == "stopped" or not fit or (next_due is not None and next_due < today)
    if category == "elevator":
        return DeviceProfile(Kind.ELEVATOR, reports_events=bool(rated.get("reports_events", True)),
                             rated_speed_mps=rated.get("rated_speed_mps"), inspection_expired=expired)
    return DeviceProfile(Kind.BOILER, reports_events=bool(rated.get("reports_events", True)),
                         rated_pressure_mpa=rated.get("rated_pressure_mpa"),
                         rated_outlet_temp_c=rated.get("rated_outlet_temp_c"),
                         high_water_mm=rated.get("high_water_mm"),
                         extreme_low_water_mm=rated.get("extreme_low_water_mm"), inspection_expired=expired)


class RegisterProfiles:
    def __init__(self, fallback: ProfileLookup | None = None) -> None:
        self._fallback = fallback or (lambda _device, kind: DeviceProfile(kind))
        self.profiles: dict[str, DeviceProfile] = {}

    def __call__(self, device_id: str, kind: Kind) -> DeviceProfile:
        return self.profiles.get(device_id) or self._fallback(device_id, kind)

    async def load(self, pool: AsyncConnectionPool, today: date) -> dict[str, DeviceProfile]:
        async with pool.connection(timeout=5) as conn:
            cur = await conn.execute(
                """SELECT registration_code, category, rated, status, fit_for_use, next_due FROM equipment
                   WHERE category IN ('elevator', 'boiler') AND status <> 'scrapped'""")
            rows = await cur.fetchall()
        self.profiles = {str(code): profile_from_row(str(cat), rated or {}, str(status), bool(fit), due, today)
                         for code, cat, rated, status, fit, due in rows}
        return self.profiles

    async def run(self, pool: AsyncConnectionPool, interval_s: float,
                  on_load: Callable[[dict[str, DeviceProfile]], None],
                  today: Callable[[], date] = register_today) -> None:
        """Re-read every ``interval_s``; the first read is the caller's, before the engine starts."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                on_load(await self.load(pool, today()))  # the register's date, not the UTC one
            except (psycopg.Error, TimeoutError) as exc:
                log.warning("equipment register not read (%s); keeping the last profiles", exc)
