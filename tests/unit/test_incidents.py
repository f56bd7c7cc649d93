"""The incident state machine, its required fields, the deadlines per district and the overdue
decisions: pure logic, no database."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta

import pytest

from alerts.api_models import OperatorStep
from alerts.incidents import (
    ALLOWED,
    INCIDENT_FIELDS,
    OPERATOR_STEPS,
    Incident,
    IncidentState,
    IncidentStep,
    Overdue,
    Step,
    StepNotAllowed,
    StepRequest,
    StepRequestError,
    ack_deadline,
    arrival_deadline,
    arrival_limit_s,
    escalation_updates,
    incident_change,
    overdue,
    plan_step,
    with_updates,
)
from semon.settings import IncidentSettings

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CITY = "630102"  # 城东区
COUNTY = "630121"  # 大通县
SETTINGS = IncidentSettings(ack_deadline_s=120, arrival_deadline_s=1800,
                            arrival_deadline_by_district={COUNTY: 3600.0, "630123": 3600.0}, second_tier="二级救援队")

S = IncidentState
FORWARD = [(S.RAISED, Step.ACKNOWLEDGED, S.ACKNOWLEDGED), (S.ACKNOWLEDGED, Step.DISPATCHED, S.DISPATCHED),
           (S.DISPATCHED, Step.ON_SITE, S.ON_SITE), (S.ON_SITE, Step.RELEASED, S.RELEASED),
           (S.RELEASED, Step.CLOSED, S.CLOSED)]
FALSE_ALARM_FROM = [S.RAISED, S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SITE]
ALLOWED_PAIRS = {(state, step) for state, step, _ in FORWARD} | {(s, Step.FALSE_ALARM) for s in FALSE_ALARM_FROM}
FORBIDDEN_PAIRS = [(state, step) for state in IncidentState for step in sorted(OPERATOR_STEPS)
                   if (state, step) not in ALLOWED_PAIRS]


def incident(state: IncidentState = S.RAISED, district: str | None = CITY, **changes: object) -> Incident:
    base = Incident(
        id=7, alarm_id=70, device_id="31106301022015000001", district_code=district, state=state, raised_at=T0,
        acknowledged_at=None, dispatched_at=None, on_site_at=None, released_at=None, closed_at=None,
        maintenance_unit=None, maintenance_contact=None, ack_deadline=ack_deadline(T0, SETTINGS),
        arrival_deadline=None, ack_late=False, arrival_late=False, escalated_at=None, second_tier=None,
        cause=None, updated_at=T0,
    )
    return with_updates(base, dict(changes))


def request(step: Step, **fields: str) -> StepRequest:
    if step is Step.DISPATCHED:
        fields = {"maintenance_unit": "青海某电梯维保有限公司", "contact": "0971-1234567", **fields}
    return StepRequest(step, fields.pop("actor", "operator-1"), **fields)


# Transitions


@pytest.mark.parametrize(("state", "step", "after"), FORWARD + [(s, Step.FALSE_ALARM, S.FALSE_ALARM)
                                                               for s in FALSE_ALARM_FROM])
def test_every_allowed_step_moves_to_its_state(state: IncidentState, step: Step, after: IncidentState) -> None:
    updates = plan_step(incident(state), request(step), T0 + timedelta(seconds=30), SETTINGS)
    assert updates["state"] is after
    assert updates["updated_at"] == T0 + timedelta(seconds=30)


@pytest.mark.parametrize(("state", "step"), FORBIDDEN_PAIRS)
def test_every_other_step_is_not_allowed(state: IncidentState, step: Step) -> None:
    with pytest.raises(StepNotAllowed, match=f"is {state}: {step} is not allowed"):
        plan_step(incident(state), request(step), T0, SETTINGS)


def test_the_table_is_what_the_tests_say() -> None:
    declared = {(state, step) for state, steps in ALLOWED.items() for step in steps}
    assert declared == ALLOWED_PAIRS
    assert len(FORBIDDEN_PAIRS) == len(IncidentState) * len(OPERATOR_STEPS) - len(ALLOWED_PAIRS)


def test_the_api_accepts_exactly_the_operator_steps() -> None:
    assert set(typing.get_args(OperatorStep)) == {str(s) for s in OPERATOR_STEPS}


def test_double_acknowledge_names_the_current_state_and_what_is_allowed() -> None:
    with pytest.raises(StepNotAllowed) as err:
        plan_step(incident(S.ACKNOWLEDGED), request(Step.ACKNOWLEDGED), T0, SETTINGS)
    assert str(err.value) == ("incident 7 is acknowledged: acknowledged is not allowed "
                              "(allowed: dispatched, false_alarm)")


def test_a_finished_incident_allows_nothing() -> None:
    with pytest.raises(StepNotAllowed, match="allowed: nothing: it is over"):
        plan_step(incident(S.CLOSED), request(Step.FALSE_ALARM), T0, SETTINGS)


@pytest.mark.parametrize("step", [Step.RAISED, Step.COMMENT, Step.ESCALATED, Step.ACK_OVERDUE, Step.ALARM_CLEARED])
def test_system_steps_are_not_operator_steps(step: Step) -> None:
    with pytest.raises(StepRequestError, match="not a step an operator takes"):
        plan_step(incident(), StepRequest(step, "operator-1"), T0, SETTINGS)


def test_a_step_needs_an_actor() -> None:
    with pytest.raises(StepRequestError, match="actor"):
        plan_step(incident(), StepRequest(Step.ACKNOWLEDGED, "  "), T0, SETTINGS)


# What each step writes


def test_the_whole_lifecycle_writes_each_timestamp_once() -> None:
    current = incident()
    times = {}
    for n, (_, step, _) in enumerate(FORWARD, start=1):
        now = T0 + timedelta(minutes=n)
        current = with_updates(current, plan_step(current, request(step), now, SETTINGS))
        times[step] = now
    assert current.state is S.CLOSED and not current.active
    assert current.acknowledged_at == times[Step.ACKNOWLEDGED]
    assert current.dispatched_at == times[Step.DISPATCHED]
    assert current.on_site_at == times[Step.ON_SITE]
    assert current.released_at == times[Step.RELEASED]
    assert current.closed_at == times[Step.CLOSED]
    assert current.maintenance_unit == "青海某电梯维保有限公司"
    assert current.maintenance_contact == "0971-1234567"
    assert current.arrival_deadline == times[Step.DISPATCHED] + timedelta(minutes=30)
    assert not current.ack_late and not current.arrival_late


@pytest.mark.parametrize(("unit", "contact"), [(None, "0971-1"), ("维保公司", None), ("  ", "0971-1"), (None, None)])
def test_dispatch_needs_the_maintenance_unit_and_contact(unit: str | None, contact: str | None) -> None:
    with pytest.raises(StepRequestError, match="needs the maintenance unit and its contact"):
        plan_step(incident(S.ACKNOWLEDGED), StepRequest(Step.DISPATCHED, "op", maintenance_unit=unit, contact=contact),
                  T0, SETTINGS)


def test_a_malformed_request_is_reported_before_the_state_conflict() -> None:
    # Dispatching a closed incident without a unit: the request is wrong in any state.
    with pytest.raises(StepRequestError):
        plan_step(incident(S.CLOSED), StepRequest(Step.DISPATCHED, "op"), T0, SETTINGS)


def test_the_maintenance_unit_belongs_to_dispatch_only() -> None:
    with pytest.raises(StepRequestError, match="belong to the dispatched step"):
        plan_step(incident(), StepRequest(Step.ACKNOWLEDGED, "op", maintenance_unit="维保公司"), T0, SETTINGS)


def test_unit_and_contact_are_trimmed() -> None:
    spaced = StepRequest(Step.DISPATCHED, "op", maintenance_unit=" 维保公司 ", contact=" 139 ")
    updates = plan_step(incident(S.ACKNOWLEDGED), spaced, T0, SETTINGS)
    assert (updates["maintenance_unit"], updates["maintenance_contact"]) == ("维保公司", "139")


def test_false_alarm_ends_the_incident_with_its_cause() -> None:
    updates = plan_step(incident(S.DISPATCHED), request(Step.FALSE_ALARM, cause="child pressed the button"),
                        T0 + timedelta(minutes=5), SETTINGS)
    assert updates["state"] is S.FALSE_ALARM
    assert updates["closed_at"] == T0 + timedelta(minutes=5)
    assert updates["cause"] == "child pressed the button"


def test_a_cause_is_kept_when_not_given_again() -> None:
    assert "cause" not in plan_step(incident(S.RELEASED), request(Step.CLOSED), T0, SETTINGS)
    assert plan_step(incident(S.ON_SITE), request(Step.RELEASED, cause="power cut"), T0, SETTINGS)["cause"] == \
        "power cut"


def test_a_late_acknowledge_is_marked_late_even_without_the_deadline_check() -> None:
    on_time = plan_step(incident(), request(Step.ACKNOWLEDGED), T0 + timedelta(seconds=120), SETTINGS)
    late = plan_step(incident(), request(Step.ACKNOWLEDGED), T0 + timedelta(seconds=121), SETTINGS)
    assert on_time["ack_late"] is False and late["ack_late"] is True


def test_a_late_arrival_is_marked_late_even_without_the_deadline_check() -> None:
    dispatched = incident(S.DISPATCHED, dispatched_at=T0, arrival_deadline=T0 + timedelta(minutes=30))
    assert plan_step(dispatched, request(Step.ON_SITE), T0 + timedelta(minutes=30), SETTINGS)["arrival_late"] is False
    assert plan_step(dispatched, request(Step.ON_SITE), T0 + timedelta(minutes=31), SETTINGS)["arrival_late"] is True
    escalated = with_updates(dispatched, {"arrival_late": True})
    assert plan_step(escalated, request(Step.ON_SITE), T0 + timedelta(minutes=5), SETTINGS)["arrival_late"] is True


# Deadlines


def test_ack_deadline() -> None:
    assert ack_deadline(T0, SETTINGS) == T0 + timedelta(minutes=2)


@pytest.mark.parametrize(("district", "limit"), [
    (CITY, 1800.0), ("630103", 1800.0), (COUNTY, 3600.0), ("630123", 3600.0), (None, 1800.0),
])
def test_arrival_limit_per_district(district: str | None, limit: float) -> None:
    assert arrival_limit_s(district, SETTINGS) == limit
    assert arrival_deadline(T0, district, SETTINGS) == T0 + timedelta(seconds=limit)


def test_dispatch_sets_the_arrival_deadline_of_the_district() -> None:
    city = plan_step(incident(S.ACKNOWLEDGED, CITY), request(Step.DISPATCHED), T0, SETTINGS)
    county = plan_step(incident(S.ACKNOWLEDGED, COUNTY), request(Step.DISPATCHED), T0, SETTINGS)
    assert city["arrival_deadline"] == T0 + timedelta(minutes=30)
    assert county["arrival_deadline"] == T0 + timedelta(hours=1)


# Overdue decisions


def test_unacknowledged_past_the_deadline_is_ack_overdue_once() -> None:
    raised = incident()
    assert overdue(raised, T0 + timedelta(seconds=120)) is None
    assert overdue(raised, T0 + timedelta(seconds=121)) is Overdue.ACK
    marked = with_updates(raised, escalation_updates(Overdue.ACK, T0 + timedelta(seconds=121), SETTINGS))
    assert marked.ack_late and marked.state is S.RAISED
    assert overdue(marked, T0 + timedelta(hours=1)) is None


def test_acknowledged_in_time_is_never_ack_overdue() -> None:
    assert overdue(incident(S.ACKNOWLEDGED, acknowledged_at=T0), T0 + timedelta(hours=1)) is None


@pytest.mark.parametrize(("district", "still_fine", "late"), [
    (CITY, timedelta(minutes=30), timedelta(minutes=30, seconds=1)),
    (COUNTY, timedelta(minutes=59), timedelta(hours=1, seconds=1)),
])
def test_dispatched_past_the_district_deadline_escalates_once(district: str, still_fine: timedelta,
                                                              late: timedelta) -> None:
    acknowledged = incident(S.ACKNOWLEDGED, district, acknowledged_at=T0)
    dispatched = with_updates(acknowledged, plan_step(acknowledged, request(Step.DISPATCHED), T0, SETTINGS))
    assert overdue(dispatched, T0 + still_fine) is None
    assert overdue(dispatched, T0 + late) is Overdue.ARRIVAL
    escalated = with_updates(dispatched, escalation_updates(Overdue.ARRIVAL, T0 + late, SETTINGS))
    assert escalated.arrival_late and escalated.escalated_at == T0 + late
    assert escalated.second_tier == "二级救援队"
    assert escalated.state is S.DISPATCHED  # the maintenance unit is still on its way too
    assert overdue(escalated, T0 + timedelta(hours=5)) is None


@pytest.mark.parametrize("state", [S.ON_SITE, S.RELEASED, S.CLOSED, S.FALSE_ALARM])
def test_after_arrival_nothing_is_overdue(state: IncidentState) -> None:
    past = T0 - timedelta(hours=2)
    assert overdue(incident(state, arrival_deadline=past, ack_deadline=past), T0) is None


def test_the_second_tier_comes_from_the_settings() -> None:
    other = IncidentSettings(second_tier="消防救援支队")
    assert escalation_updates(Overdue.ARRIVAL, T0, other)["second_tier"] == "消防救援支队"


# JSON


def test_incident_json_has_every_column_and_whether_it_is_active() -> None:
    data = incident(S.DISPATCHED, dispatched_at=T0, maintenance_unit="维保公司").as_json()
    assert set(data) == {*INCIDENT_FIELDS, "active"}
    assert data["state"] == "dispatched" and data["active"] is True
    assert data["raised_at"] == "2025-03-01T08:00:00+00:00"
    assert data["acknowledged_at"] is None


def test_step_json_and_the_hub_message() -> None:
    step = IncidentStep(3, 7, Step.ACKNOWLEDGED, "operator-1", T0, "on it", {})
    assert step.as_json() == {"id": 3, "incident_id": 7, "step": "acknowledged", "actor": "operator-1",
                              "at": "2025-03-01T08:00:00+00:00", "comment": "on it", "details": {}}
    change = incident_change("acknowledged", incident(), step)
    assert change["topic"] == "incident" and change["op"] == "acknowledged"
    assert change["incident"]["id"] == 7 and change["step"]["actor"] == "operator-1"
    assert "step" not in incident_change("escalated", incident())
