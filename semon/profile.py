"""A device's profile: what the rules need to know of one device (its kind, ratings, the
thresholds and code table that apply to it, whether its inspection has expired, the district
its alarms are filed under). The register provides it for registered units
(``alerts.register_profiles``), the simulators for the devices they simulate
(``simulators.profiles``: no district, which is the register's alone); the rules engine judges
by it (``alerts.rules``)."""

from __future__ import annotations

from dataclasses import dataclass

from semon.alarm_types import EntrapmentThresholds
from semon.protocol.topics import Kind

EXPIRED_REASONS = ("stopped", "unfit", "overdue")


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What the rules need to know of one device: from the register, or defaults by kind."""

    kind: Kind
    reports_events: bool = True
    rated_speed_mps: float | None = None
    rated_pressure_mpa: float | None = None
    rated_outlet_temp_c: float | None = None
    high_water_mm: float | None = None
    extreme_low_water_mm: float | None = None
    entrapment: EntrapmentThresholds | None = None  # a per-device override
    # From the register: the periodic inspection is overdue, or the last one failed.
    inspection_expired: bool = False
    # Why it must not be used, most serious first (EXPIRED_REASONS): stopped (停用, yet it runs),
    # unfit (an inspection failed, 不合格), overdue (past its next due date). Empty when it may be.
    inspection_expired_reasons: tuple[str, ...] = ()
    code_table: str | None = None  # None: the settings' table (semon-v1 unless configured)
    # From the register: the district it stands in, which its alarms are filed under (None: not
    # registered). Never read from the device's code.
    district_code: str | None = None
