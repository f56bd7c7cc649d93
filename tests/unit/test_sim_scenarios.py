"""Scenario files: each bundled one raises exactly the alarms it declares, deterministically;
a bad file is refused with a message that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.core import Frame
from simulators.run import simulate
from simulators.scenario import ScenarioError, bundled_scenarios, load_scenario
from tests.unit.sim_helpers import ORIGIN_MS, assert_valid_on_the_wire

SCENARIOS = bundled_scenarios()


def test_the_bundled_scenarios_are_there() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"entrapment-between-floors", "entrapment-at-landing", "alarm-button", "elevator-faults",
            "connectivity", "boiler-faults", "entrapment-flicker", "technician-inspection",
            "alarm-button-early-stamp", "alarm-button-stuck-empty", "clock-steps", "reconnect-silently",
            "device-restart"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_causes_exactly_what_it_declares(path: Path) -> None:
    scenario = load_scenario(path)
    output = scenario.verify(ORIGIN_MS)
    assert_valid_on_the_wire(output)
    # Every device says what it must raise, if only nothing (``alarms = []``: a technician at work).
    assert {e.device for e in scenario.file.expect} == {d.id for d in scenario.file.devices}
    devices = scenario.build(scenario.origin_ms(ORIGIN_MS))
    simulate(devices, scenario.duration)
    assert [d.device_id for d in devices if getattr(d, "late_s", 0.0)] == [], "a fault happened late: prepare"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_is_the_same_for_the_same_seed(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.dry_run(ORIGIN_MS) == scenario.dry_run(ORIGIN_MS)


def test_another_seed_changes_the_traffic_not_the_story() -> None:
    scenario = load_scenario("connectivity")
    a = [o for o in scenario.dry_run(ORIGIN_MS) if isinstance(o, Frame)]
    b = [o for o in scenario.dry_run(ORIGIN_MS, seed=99) if isinstance(o, Frame)]
    assert [f.payload for f in a] != [f.payload for f in b]


def test_the_issue_example_in_order() -> None:
    """At 30 s E-0012 stops between floors 5 and 6 with 2 passengers; at 45 s the alarm button."""
    scenario = load_scenario("entrapment-between-floors")
    output = scenario.dry_run(scenario.origin_ms(ORIGIN_MS))
    evts = [(o.t, o.payload["code"]) for o in output if isinstance(o, Frame) and o.channel == "event"]
    assert evts[:3] == [(30.0, 4), (45.0, 90), (45.0, 11)]
    start = scenario.origin_ms(ORIGIN_MS)
    stuck = next(o.payload for o in output if isinstance(o, Frame) and o.channel == "telemetry" and o.t == 30.0)
    assert stuck["ts"] == start + 30_000 and stuck["floor"] == 5 and not stuck["door_zone"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
name = "t"
duration = 300
[[device]]
id = "E-1"
kind = "elevator"
"""


def test_a_declared_alarm_that_does_not_happen_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + """
[[timeline]]
at = 30
device = "E-1"
do = "alarm_button"
[[expect]]
device = "E-1"
alarms = ["entrapment"]
""")
    with pytest.raises(ScenarioError, match=r"declared but not caused: E-1 entrapment.*caused but not declared: "
                                            r"E-1 alarm_button"):
        load_scenario(path).verify(ORIGIN_MS)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[timeline]]\nat = 3\ndevice = "E-1"\ndo = "explode"\n', "does not match any of the expected tags"),
        ('[[timeline]]\nat = 3\ndevice = "E-9"\ndo = "alarm_button"\n', "no device 'E-9'"),
        ('[[timeline]]\nat = 900\ndevice = "E-1"\ndo = "alarm_button"\n', "after the scenario's end"),
        ('[[timeline]]\nat = 3\ndevice = "E-1"\ndo = "flame_failure"\n', "does not apply to an elevator"),
        ('[[timeline]]\nat = 3\ndevice = "E-1"\ndo = "silent"\n', "timeline.0.silent.duration: Field required"),
        ('[[expect]]\ndevice = "E-1"\nalarms = ["fire"]\n', "expect.0.alarms.0"),
        ('[[expect]]\ndevice = "E-7"\nalarms = ["entrapment"]\n', "expect: no device 'E-7'"),
    ],
)
def test_bad_scenarios_say_what_is_wrong(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write(tmp_path, BASE + extra)).verify(ORIGIN_MS)


def test_unknown_device_fields_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "floors = 12\n")
    with pytest.raises(ScenarioError, match=r"unknown field.*floors.*known: .*highest_floor"):
        load_scenario(path).build(ORIGIN_MS)


def test_not_toml_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(write(tmp_path, "name = "))
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError, match=r"device\.0\.id"):
        load_scenario(write(tmp_path, 'name = "x"\nduration = 5\n[[device]]\nid = "bad id"\nkind = "elevator"\n'))
