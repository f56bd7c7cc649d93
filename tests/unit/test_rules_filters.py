"""SEMON_RULES_SUBSCRIPTION split into the rules engine's two paths (docs/alerts.md, "The alarm
path"): events on their own session, telemetry and status on the other."""

from __future__ import annotations

import pytest

from alerts.engine import rules_filters


@pytest.mark.parametrize(("subscription", "telemetry", "events"), [
    ("se/+/+/+", ["se/+/+/telemetry", "se/+/+/status"], ["se/+/+/event"]),
    ("se/#", ["se/+/+/telemetry", "se/+/+/status"], ["se/+/+/event"]),
    ("se/elevator/#", ["se/elevator/+/telemetry", "se/elevator/+/status"], ["se/elevator/+/event"]),
    ("se/elevator/+/event", [], ["se/elevator/+/event"]),
    ("se/boiler/B-1/telemetry", ["se/boiler/B-1/telemetry"], []),
])
def test_the_event_channel_goes_to_the_event_path(subscription: str, telemetry: list[str], events: list[str]) -> None:
    assert rules_filters(subscription) == (telemetry, events)


@pytest.mark.parametrize("subscription", ["se/+/+", "se/+/+/+/+", "se/+/+/alarm", "se/#/+/+", "se//+/+"])
def test_a_subscription_of_another_shape_is_refused(subscription: str) -> None:
    with pytest.raises(ValueError, match="rules subscription"):
        rules_filters(subscription)
