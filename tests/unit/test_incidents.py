"""The incident state machine, its required fields, the deadlines per area, the three tiers and
the overdue decisions: pure logic, no database (tests/unit/test_incidents_properties.py: the
same under generated histories)."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta

import pytest

from alerts.api_models import OperatorStep
from alerts.incidents import (
    ALLOWED,
    CAUSE_LABELS,
    INCIDENT_FIELDS,
    OPERATOR_STEPS,
    Area,
    CauseClass,
    Incident,
    IncidentState,
    IncidentStep,
    Overdue,
    RegisterFacts,
    Step,
    StepNotAllowed,
    StepRequest,
    StepRequestError,
    ack_deadline,
    arrival_deadline,
    arrival_limit_s,
    deadline_plan,
    incident_change,
    nearest_station,
    no_answer_callee,
    overdue,
    plan_step,
    stale_view,
    with_updates,
)
from semon.settings import IncidentSettings, SecondTierStation

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CITY = "630102"  # 城东区
COUNTY = "630121"  # 大通县
STATIONS = (
    SecondTierStation(name="城东网格救援站", phone="0971-8100001", district_code=CITY, latitude=36.616,
                      longitude=101.806),
    SecondTierStation(name="大通网格救援站", phone="0971-8100002", district_code=COUNTY, latitude=36.928,
                      longitude=101.685),
)
SETTINGS = IncidentSettings(ack_deadline_s=120, response_deadline_s=300, arrival_deadline_urban_s=1800,
                            arrival_deadline_other_s=3600, second_tier="二级救援队", second_tier_stations=STATIONS)
CLOSE = {"persons_released": 2, "injuries": 0, "cause_class": CauseClass.DOOR_SYSTEM, "self_release": False,
         "callback_confirmed": True}

S = IncidentState
FORWARD = [(S.RAISED, Step.ACKNOWLEDGED, S.ACKNOWLEDGED), (S.ACKNOWLEDGED, Step.DISPATCHED, S.DISPATCHED),
           (S.DISPATCHED, Step.RESPONDED, S.RESPONDED), (S.RESPONDED, Step.ON_SITE, S.ON_SITE),
           (S.ON_SITE, Step.RELEASED, S.RELEASED), (S.RELEASED, Step.CLOSED, S.CLOSED)]
FALSE_ALARM_FROM = [S.RAISED, S.ACKNOWLEDGED, S.DISPATCHED, S.RESPONDED, S.ON_SITE]
# Beyond the forward path: re-dispatch (or the next tier), arrival without a response step, and
# the no_answer note while someone is being called.
MORE = {(S.DISPATCHED, Step.DISPATCHED), (S.RESPONDED, Step.DISPATCHED), (S.DISPATCHED, Step.ON_SITE),
        (S.ACKNOWLEDGED, Step.NO_ANSWER), (S.DISPATCHED, Step.NO_ANSWER), (S.RESPONDED, Step.NO_ANSWER)}
ALLOWED_PAIRS = ({(state, step) for state, step, _ in FORWARD} | {(s, Step.FALSE_ALARM) for s in FALSE_ALARM_FROM}
                 | MORE)
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


def request(step: Step, **fields: object) -> StepRequest:
    if step is Step.DISPATCHED and fields.get("tier") in (None, 1):
        fields = {"maintenance_unit": "青海某电梯维保有限公司", "contact": "0971-1234567", **fields}
    if step is Step.CLOSED:
        fields = {**CLOSE, **fields}
    return StepRequest(step, str(fields.pop("actor", "operator-1")), **fields)  # type: ignore[arg-type]


# Transitions


@pytest.mark.parametrize(("state", "step", "after"), FORWARD + [(s, Step.FALSE_ALARM, S.FALSE_ALARM)
                                                               for s in FALSE_ALARM_FROM])
def test_every_allowed_step_moves_to_its_state(state: IncidentState, step: Step, after: IncidentState) -> None:
    updates = plan_step(incident(state, tier=1), request(step), T0 + timedelta(seconds=30), SETTINGS)
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
                              "(allowed: dispatched, no_answer, false_alarm)")


def test_a_finished_incident_allows_nothing() -> None:
    with pytest.raises(StepNotAllowed, match="allowed: nothing: it is over"):
        plan_step(incident(S.CLOSED), request(Step.FALSE_ALARM), T0, SETTINGS)


@pytest.mark.parametrize("step", [Step.RAISED, Step.COMMENT, Step.ESCALATED, Step.ACK_OVERDUE, Step.ALARM_CLEARED,
                                  Step.RESPONSE_OVERDUE, Step.ARRIVAL_OVERDUE, Step.ALARM_LINKED])
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
    assert current.responded_at == times[Step.RESPONDED]
    assert current.response_deadline == times[Step.DISPATCHED] + timedelta(minutes=5)
    assert current.on_site_at == times[Step.ON_SITE]
    assert current.released_at == times[Step.RELEASED]
    assert current.closed_at == times[Step.CLOSED]
    assert current.maintenance_unit == "青海某电梯维保有限公司"
    assert current.maintenance_contact == "0971-1234567"
    assert current.arrival_deadline == times[Step.DISPATCHED] + timedelta(minutes=30)
    assert not current.ack_late and not current.arrival_late and not current.response_late
    assert current.tier == 1 and current.rescuer == "青海某电梯维保有限公司"
    assert (current.persons_released, current.injuries, current.cause_class, current.self_release,
            current.callback_confirmed) == (2, 0, CauseClass.DOOR_SYSTEM, False, True)
    assert current.callback_at == times[Step.CLOSED]


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
    with pytest.raises(StepRequestError, match="belong to the dispatched and no_answer steps"):
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


@pytest.mark.parametrize(("area", "limit"), [(Area.URBAN, 1800.0), (Area.OTHER, 3600.0), (None, 1800.0),
                                             ("other", 3600.0)])
def test_arrival_limit_per_area(area: Area | str | None, limit: float) -> None:
    assert arrival_limit_s(area, SETTINGS) == limit
    assert arrival_deadline(T0, area, SETTINGS) == T0 + timedelta(seconds=limit)


def test_dispatch_sets_the_deadlines_of_the_area_not_of_the_district() -> None:
    seat = plan_step(incident(S.ACKNOWLEDGED, COUNTY, area=Area.URBAN), request(Step.DISPATCHED), T0, SETTINGS)
    rural = plan_step(incident(S.ACKNOWLEDGED, CITY, area=Area.OTHER), request(Step.DISPATCHED), T0, SETTINGS)
    assert seat["arrival_deadline"] == T0 + timedelta(minutes=30)  # a county seat is urban
    assert rural["arrival_deadline"] == T0 + timedelta(hours=1)
    assert seat["response_deadline"] == rural["response_deadline"] == T0 + timedelta(minutes=5)


def test_a_late_response_is_marked_late_even_without_the_deadline_check() -> None:
    dispatched = incident(S.DISPATCHED, tier=1, response_deadline=T0 + timedelta(minutes=5))
    assert plan_step(dispatched, request(Step.RESPONDED), T0 + timedelta(minutes=5), SETTINGS)["response_late"] is False
    assert plan_step(dispatched, request(Step.RESPONDED), T0 + timedelta(minutes=6), SETTINGS)["response_late"] is True


def test_arriving_without_a_response_step_counts_as_the_response() -> None:
    dispatched = incident(S.DISPATCHED, tier=1, response_deadline=T0 + timedelta(minutes=5),
                          arrival_deadline=T0 + timedelta(minutes=30))
    updates = plan_step(dispatched, request(Step.ON_SITE), T0 + timedelta(minutes=4), SETTINGS)
    assert updates["responded_at"] == updates["on_site_at"] == T0 + timedelta(minutes=4)
    assert updates["response_late"] is False


# Closing asks for the record


@pytest.mark.parametrize("missing", sorted(CLOSE))
def test_closing_without_a_field_of_the_record_is_refused_naming_it(missing: str) -> None:
    fields = {k: v for k, v in CLOSE.items() if k != missing}
    with pytest.raises(StepRequestError, match=f"closed needs {missing}"):
        plan_step(incident(S.RELEASED), StepRequest(Step.CLOSED, "op", **fields), T0, SETTINGS)  # type: ignore[arg-type]


def test_closing_names_everything_missing() -> None:
    with pytest.raises(StepRequestError) as err:
        plan_step(incident(S.RELEASED), StepRequest(Step.CLOSED, "op"), T0, SETTINGS)
    assert str(err.value) == ("closed needs persons_released, injuries, cause_class, self_release, "
                              "callback_confirmed (missing)")


def test_the_record_belongs_to_the_closed_step() -> None:
    with pytest.raises(StepRequestError, match="belong to the closed step"):
        plan_step(incident(S.ON_SITE), StepRequest(Step.RELEASED, "op", injuries=0), T0, SETTINGS)


def test_a_call_back_not_confirmed_has_no_time() -> None:
    updates = plan_step(incident(S.RELEASED), request(Step.CLOSED, callback_confirmed=False), T0, SETTINGS)
    assert updates["callback_confirmed"] is False and updates["callback_at"] is None


def test_the_cause_classes_have_one_label_table() -> None:
    assert set(CAUSE_LABELS) == set(CauseClass)
    assert [zh for zh, _ in CAUSE_LABELS.values()] == ["人为", "外部/停电", "门系统", "控制系统", "其他"]


# The three tiers


def test_the_nearest_station_by_coordinates_else_the_district_else_the_first() -> None:
    assert nearest_station(STATIONS, 36.93, 101.69, CITY) is STATIONS[1]  # the coordinates win
    assert nearest_station(STATIONS, None, None, COUNTY) is STATIONS[1]
    assert nearest_station(STATIONS, None, None, "630199") is STATIONS[0]
    assert nearest_station((), 36.9, 101.6, CITY) is None


def test_a_tier_two_dispatch_defaults_to_the_nearest_station_and_keeps_the_maintenance_unit() -> None:
    dispatched = incident(S.DISPATCHED, COUNTY, tier=1, maintenance_unit="维保公司", maintenance_contact="139")
    updates = plan_step(dispatched, StepRequest(Step.DISPATCHED, "op", tier=2), T0, SETTINGS)
    assert (updates["tier"], updates["rescuer"], updates["rescuer_contact"]) == (2, "大通网格救援站", "0971-8100002")
    assert updates["second_tier"] == "大通网格救援站" and "maintenance_unit" not in updates


def test_calling_119_by_hand() -> None:
    updates = plan_step(incident(S.ACKNOWLEDGED), StepRequest(Step.DISPATCHED, "op", tier=3), T0, SETTINGS)
    assert (updates["tier"], updates["rescuer_contact"], updates["state"]) == (3, "119", S.DISPATCHED)


def test_a_dispatch_never_goes_back_a_tier() -> None:
    with pytest.raises(StepNotAllowed, match="at tier 2: a dispatch cannot go back to tier 1"):
        plan_step(incident(S.DISPATCHED, tier=2), request(Step.DISPATCHED, tier=1), T0, SETTINGS)


def test_no_answer_is_a_note() -> None:
    updates = plan_step(incident(S.DISPATCHED, tier=1, rescuer="甲维保"), request(Step.NO_ANSWER, contact="139"), T0,
                        SETTINGS)
    assert updates == {"updated_at": T0}


# Overdue decisions


def test_unacknowledged_past_the_deadline_is_ack_overdue_once() -> None:
    raised = incident()
    assert overdue(raised, T0 + timedelta(seconds=120)) is None
    assert overdue(raised, T0 + timedelta(seconds=121)) is Overdue.ACK
    plan = deadline_plan(raised, T0 + timedelta(seconds=121), SETTINGS)
    assert plan is not None and [n.step for n in plan.notes] == [Step.ACK_OVERDUE]
    marked = with_updates(raised, plan.updates)
    assert marked.ack_late and marked.state is S.RAISED
    assert overdue(marked, T0 + timedelta(hours=1)) is None


def test_acknowledged_in_time_is_never_ack_overdue() -> None:
    assert overdue(incident(S.ACKNOWLEDGED, acknowledged_at=T0), T0 + timedelta(hours=1)) is None


def _dispatched(area: Area = Area.URBAN) -> Incident:
    acknowledged = incident(S.ACKNOWLEDGED, CITY, acknowledged_at=T0, area=area, latitude=36.62, longitude=101.8)
    return with_updates(acknowledged, plan_step(acknowledged, request(Step.DISPATCHED), T0, SETTINGS))


def test_no_response_escalates_to_the_nearest_station_then_to_119() -> None:
    first = _dispatched()
    assert overdue(first, T0 + timedelta(minutes=5)) is None
    plan = deadline_plan(first, T0 + timedelta(minutes=5, seconds=1), SETTINGS)
    assert plan is not None and plan.kind is Overdue.RESPONSE
    assert [n.step for n in plan.notes] == [Step.RESPONSE_OVERDUE, Step.ESCALATED]
    assert plan.notes[1].details == {"from_tier": 1, "to_tier": 2, "reason": "no_response",
                                     "rescuer": "城东网格救援站", "contact": "0971-8100001"}
    second = with_updates(first, plan.updates)
    assert (second.tier, second.state, second.response_late) == (2, S.DISPATCHED, True)
    assert second.maintenance_unit == "青海某电梯维保有限公司"  # lateness stays against the unit
    assert second.response_deadline == T0 + timedelta(minutes=10, seconds=1)
    plan = deadline_plan(second, T0 + timedelta(minutes=10, seconds=2), SETTINGS)
    assert plan is not None and plan.notes[1].details["to_tier"] == 3
    third = with_updates(second, plan.updates)
    assert (third.tier, third.rescuer, third.rescuer_contact) == (3, "消防救援", "119")
    plan = deadline_plan(third, T0 + timedelta(minutes=16), SETTINGS)
    assert plan is not None and [n.step for n in plan.notes] == [Step.RESPONSE_OVERDUE]  # nobody further
    done = with_updates(third, plan.updates)
    assert done.tier == 3 and done.response_missed
    assert overdue(done, T0 + timedelta(minutes=20)) is None


@pytest.mark.parametrize(("area", "still_fine", "late"), [
    (Area.URBAN, timedelta(minutes=30), timedelta(minutes=30, seconds=1)),
    (Area.OTHER, timedelta(minutes=59), timedelta(hours=1, seconds=1)),
])
def test_a_missed_arrival_escalates_once(area: Area, still_fine: timedelta, late: timedelta) -> None:
    responded = with_updates(_dispatched(area), {"state": S.RESPONDED, "responded_at": T0})
    assert overdue(responded, T0 + still_fine) is None
    plan = deadline_plan(responded, T0 + late, SETTINGS)
    assert plan is not None and plan.kind is Overdue.ARRIVAL
    assert plan.notes[1].details["reason"] == "late_arrival"
    escalated = with_updates(responded, plan.updates)
    assert escalated.arrival_late and escalated.escalated_at == T0 + late
    assert escalated.second_tier == "城东网格救援站" and escalated.tier == 2
    assert escalated.state is S.DISPATCHED  # the station has to respond in its turn
    assert overdue(escalated, T0 + late) is None


@pytest.mark.parametrize("state", [S.ON_SITE, S.RELEASED, S.CLOSED, S.FALSE_ALARM])
def test_after_arrival_nothing_is_overdue(state: IncidentState) -> None:
    past = T0 - timedelta(hours=2)
    assert overdue(incident(state, arrival_deadline=past, ack_deadline=past, response_deadline=past), T0) is None


def test_the_second_tier_without_stations_is_the_settings_name() -> None:
    other = IncidentSettings(second_tier="消防救援支队")
    first = _dispatched()
    plan = deadline_plan(first, T0 + timedelta(hours=2), other)
    assert plan is not None and plan.updates["second_tier"] == "消防救援支队"


def test_register_facts_from_the_register_entry() -> None:
    facts = RegisterFacts.from_entry({
        "district_code": CITY, "address": "八一路1号", "area": "urban", "place": "residential", "rescue_code": "100234",
        "latitude": 36.6, "longitude": 101.8,
        "maintenance_unit": {"code": "M1", "name": "维保公司", "phone": "0971-1", "contact": "王",
                             "contacts": [{"name": "李", "phone": "139"}, {"name": "赵", "phone": "138"}]}})
    assert facts.area is Area.URBAN and facts.maintenance_unit == "维保公司" and facts.maintenance_contact == "李 139"
    bare = RegisterFacts.from_entry({"area": "nowhere",
                                     "maintenance_unit": {"name": "M", "phone": "1", "contact": "王"}})
    assert bare.area is None and bare.maintenance_contact == "王 1"


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


# A step based on a stale view (two operators at once)


def test_a_first_dispatch_on_an_incident_dispatched_meanwhile_is_refused_naming_who_and_when() -> None:
    dispatched = incident(S.DISPATCHED, tier=1)
    first = request(Step.DISPATCHED, expected_state=S.ACKNOWLEDGED)
    why = stale_view(dispatched, first, "operator-2", T0)
    assert why is not None
    assert "already dispatched by operator-2 at 2025" in str(why) and "acknowledged" in str(why)
    # A re-dispatch saw the dispatch; a client that does not say is not checked.
    assert stale_view(dispatched, request(Step.DISPATCHED, expected_state=S.DISPATCHED), "operator-2", T0) is None
    assert stale_view(dispatched, request(Step.DISPATCHED), "operator-2", T0) is None


def test_closing_with_more_injured_than_released_is_refused() -> None:
    released = incident(S.RELEASED, tier=1)
    with pytest.raises(StepRequestError, match=r"injuries \(5\) cannot exceed persons_released \(1\)"):
        plan_step(released, request(Step.CLOSED, persons_released=1, injuries=5), T0, SETTINGS)
    assert plan_step(released, request(Step.CLOSED, persons_released=2, injuries=2), T0, SETTINGS)["injuries"] == 2


def test_no_answer_names_who_did_not_answer_and_asks_when_nobody_is_known() -> None:
    unknown = incident(S.ACKNOWLEDGED, registered=False)
    with pytest.raises(StepRequestError, match="no_answer needs who did not answer"):
        plan_step(unknown, request(Step.NO_ANSWER), T0, SETTINGS)
    with pytest.raises(StepRequestError, match="no_answer needs who did not answer"):
        plan_step(unknown, request(Step.NO_ANSWER, maintenance_unit="某维保公司"), T0, SETTINGS)
    assert plan_step(unknown, request(Step.NO_ANSWER, maintenance_unit="某维保公司", contact="139"), T0,
                     SETTINGS) == {"updated_at": T0}
    known = incident(S.ACKNOWLEDGED, maintenance_unit="甲维保", maintenance_contact="王 138")
    assert no_answer_callee(known, request(Step.NO_ANSWER)) == ("甲维保", "王 138")
