"""The incident state machine under generated, hostile histories: random operator steps (well and
badly formed, repeated, two operators sending the same step from the same view), deadline checks
and a clock that jumps forward and steps back. Whatever happens: never an illegal state or
transition, deadlines never move earlier, the history's times never go back, each tier escalates
at most once and only to the next, tiers never fall, a finished incident stays finished."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.incidents import (
    ALLOWED,
    FINAL_STATES,
    OPERATOR_STEPS,
    TIER_FIRE,
    Area,
    CauseClass,
    Incident,
    IncidentState,
    InvalidStep,
    Step,
    StepNotAllowed,
    StepRequest,
    ack_deadline,
    deadline_plan,
    plan_step,
    with_updates,
)
from semon.settings import IncidentSettings, SecondTierStation

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SETTINGS = IncidentSettings(ack_deadline_s=120, response_deadline_s=300, arrival_deadline_urban_s=1800,
                            arrival_deadline_other_s=3600,
                            second_tier_stations=(SecondTierStation(name="城东网格救援站", phone="0971-8100001"),))
REENTRANT = {Step.DISPATCHED, Step.NO_ANSWER}  # may follow themselves


def fresh(area: Area | None) -> Incident:
    return Incident(id=1, alarm_id=10, device_id="D1", district_code="630102", state=IncidentState.RAISED,
                    raised_at=T0, acknowledged_at=None, dispatched_at=None, on_site_at=None, released_at=None,
                    closed_at=None, maintenance_unit=None, maintenance_contact=None,
                    ack_deadline=ack_deadline(T0, SETTINGS), arrival_deadline=None, ack_late=False,
                    arrival_late=False, escalated_at=None, second_tier=None, cause=None, updated_at=T0, area=area)


def requests() -> st.SearchStrategy[StepRequest]:
    blank_or_text = st.sampled_from([None, "", "  ", "维保公司", "0971-1234567"])
    return st.builds(
        StepRequest,
        step=st.sampled_from([*sorted(OPERATOR_STEPS), Step.COMMENT, Step.ESCALATED]),
        actor=st.sampled_from(["op-1", "op-2", " "]),
        maintenance_unit=blank_or_text, contact=blank_or_text,
        tier=st.sampled_from([None, None, 1, 2, 3, 0, 4]),
        persons_released=st.sampled_from([None, 0, 2, -1]), injuries=st.sampled_from([None, 0, 1]),
        cause_class=st.sampled_from([None, *CauseClass]), self_release=st.sampled_from([None, True, False]),
        callback_confirmed=st.sampled_from([None, True, False]),
    )


# An action: an operator's request (once, or twice as two operators would send it), a deadline
# check, or the clock moving (forward by up to two hours, back by up to ten minutes).
actions = st.one_of(
    st.tuples(st.just("step"), requests()),
    st.tuples(st.just("twice"), requests()),
    st.tuples(st.just("check"), st.none()),
    st.tuples(st.just("clock"), st.integers(min_value=-600, max_value=7200)),
)


@dataclass
class Record:
    escalations: list[tuple[int, int]]
    steps: int = 0


def _check_transition(before: Incident, after: Incident, how: Step | None) -> None:
    assert after.state in IncidentState
    if before.state is not after.state:
        if how is None:  # the system: only an escalation moves the state, back to dispatched
            assert after.state is IncidentState.DISPATCHED
            assert before.state in (IncidentState.DISPATCHED, IncidentState.RESPONDED)
        else:
            assert how in ALLOWED[before.state] and after.state.value == how.value
    if before.state in FINAL_STATES:
        assert after == before
    assert after.ack_deadline == before.ack_deadline
    for name in ("response_deadline", "arrival_deadline"):
        old, new = getattr(before, name), getattr(after, name)
        if old is not None:
            assert new is not None and new >= old, name
    assert after.updated_at >= before.updated_at
    if before.tier is not None:
        assert after.tier is not None and after.tier >= before.tier
    for flag in ("ack_late", "response_late", "arrival_late"):
        assert getattr(after, flag) >= getattr(before, flag), flag
    if after.tier is None:
        assert after.dispatched_at is None
    else:
        assert 1 <= after.tier <= TIER_FIRE and after.dispatched_at is not None
        assert after.response_deadline is not None and after.arrival_deadline is not None


def _apply(incident: Incident, request: StepRequest, now: datetime) -> tuple[Incident, bool]:
    try:
        updates = plan_step(incident, request, now, SETTINGS)
    except InvalidStep:
        return incident, False
    after = with_updates(incident, updates)
    _check_transition(incident, after, request.step)
    return after, True


@settings(max_examples=400, deadline=None)
@given(area=st.sampled_from([Area.URBAN, Area.OTHER, None]), history=st.lists(actions, max_size=40))
def test_no_history_breaks_the_incident(area: Area | None, history: list[tuple[str, Any]]) -> None:
    incident = fresh(area)
    now = T0
    record = Record(escalations=[])
    for kind, arg in history:
        if kind == "clock":
            now += timedelta(seconds=arg)
        elif kind == "check":
            plan = deadline_plan(incident, now, SETTINGS)
            if plan is None:
                continue
            after = with_updates(incident, plan.updates)
            _check_transition(incident, after, None)
            for note in plan.notes:
                if note.step is Step.ESCALATED:
                    record.escalations.append((note.details["from_tier"], note.details["to_tier"]))
                    assert after.tier == note.details["to_tier"]
            assert deadline_plan(after, now, SETTINGS) is None or plan.kind.value != "ack_overdue"
            incident = after
        else:
            incident, taken = _apply(incident, arg, now)
            if kind == "twice" and taken:
                # The second operator saw the same state and sends the same step: refused as a
                # conflict, unless it is a step that may follow itself.
                again, taken_again = _apply(incident, arg, now)
                if arg.step not in REENTRANT:
                    assert not taken_again
                incident = again
    froms = [f for f, _ in record.escalations]
    assert len(froms) == len(set(froms)), "a tier escalated twice"
    assert all(to == f + 1 for f, to in record.escalations)


@settings(max_examples=200, deadline=None)
@given(waits=st.lists(st.integers(min_value=0, max_value=4000), min_size=1, max_size=30))
def test_left_alone_a_dispatch_escalates_through_every_tier_once(waits: list[int]) -> None:
    """Nobody responds or arrives, the checks come at random times: tier 1 → 2 → 3, each once,
    and the incident stays dispatched at tier 3 with both deadlines noted missed at most once."""
    incident = fresh(Area.URBAN)
    incident, _ = _apply(incident, StepRequest(Step.ACKNOWLEDGED, "op"), T0)
    incident, _ = _apply(incident, StepRequest(Step.DISPATCHED, "op", maintenance_unit="维保公司", contact="139"), T0)
    now = T0
    notes: list[Step] = []
    for wait in [*waits, 10_000, 10_000, 10_000, 10_000]:
        now += timedelta(seconds=wait)
        plan = deadline_plan(incident, now, SETTINGS)
        if plan is not None:
            notes.extend(n.step for n in plan.notes)
            incident = with_updates(incident, plan.updates)
    assert incident.tier == 3 and incident.state is IncidentState.DISPATCHED
    assert notes.count(Step.ESCALATED) == 2
    assert notes.count(Step.RESPONSE_OVERDUE) <= 3 and notes.count(Step.ARRIVAL_OVERDUE) <= 3
    assert deadline_plan(incident, now + timedelta(days=1), SETTINGS) is None


def test_a_clock_step_back_cannot_reorder_a_history() -> None:
    incident = fresh(None)
    incident, _ = _apply(incident, StepRequest(Step.ACKNOWLEDGED, "op"), T0 + timedelta(minutes=1))
    incident, taken = _apply(incident, StepRequest(Step.DISPATCHED, "op", maintenance_unit="M", contact="1"), T0)
    assert taken and incident.dispatched_at == T0 + timedelta(minutes=1)  # not before the acknowledgement


def test_two_operators_closing_at_once_close_once() -> None:
    incident = with_updates(fresh(None), {"state": IncidentState.RELEASED})
    close = StepRequest(Step.CLOSED, "op-1", persons_released=1, injuries=0, cause_class=CauseClass.HUMAN,
                        self_release=False, callback_confirmed=True)
    closed, _ = _apply(incident, close, T0)
    try:
        plan_step(closed, close, T0, SETTINGS)
    except StepNotAllowed as exc:
        assert "nothing: it is over" in str(exc)
    else:
        raise AssertionError("a second close was taken")
