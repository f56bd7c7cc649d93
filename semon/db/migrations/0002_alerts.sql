-- Alarms raised by the rules engine, rescue incidents worked by the emergency centre, and the
-- engine's per-device rule state (so a restart neither forgets nor repeats an alarm).

CREATE TABLE alarms (
    id              bigserial PRIMARY KEY,
    device_id       text        NOT NULL,
    kind            text        NOT NULL,                 -- elevator | boiler
    type            text        NOT NULL,                 -- semon.alarm_types.AlarmType
    severity        text        NOT NULL,                 -- critical | major | minor | warning
    source          text        NOT NULL,                 -- code | telemetry | connectivity
    state           text        NOT NULL DEFAULT 'open',  -- open | cleared
    raised_at       timestamptz NOT NULL,                 -- device time the condition began
    raised_seen_at  timestamptz NOT NULL DEFAULT now(),   -- when the engine raised it
    cleared_at      timestamptz,
    clear_reason    text,
    district_code   text,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CHECK (state IN ('open', 'cleared'))
);
-- At most one open alarm per device and type: the database enforces what the engine intends.
CREATE UNIQUE INDEX alarms_one_open ON alarms (device_id, type) WHERE state = 'open';
CREATE INDEX alarms_by_time ON alarms (raised_at DESC);
CREATE INDEX alarms_by_device ON alarms (device_id, raised_at DESC);

CREATE TABLE incidents (
    id                   bigserial PRIMARY KEY,
    alarm_id             bigint      NOT NULL UNIQUE REFERENCES alarms (id),
    device_id            text        NOT NULL,
    district_code        text,
    state                text        NOT NULL DEFAULT 'raised',
    raised_at            timestamptz NOT NULL,
    acknowledged_at      timestamptz,
    dispatched_at        timestamptz,
    on_site_at           timestamptz,
    released_at          timestamptz,
    closed_at            timestamptz,
    maintenance_unit     text,
    maintenance_contact  text,
    ack_deadline         timestamptz NOT NULL,
    arrival_deadline     timestamptz,
    ack_late             boolean     NOT NULL DEFAULT false,
    arrival_late         boolean     NOT NULL DEFAULT false,
    escalated_at         timestamptz,
    second_tier          text,
    cause                text,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (state IN ('raised', 'acknowledged', 'dispatched', 'on_site', 'released', 'closed', 'false_alarm'))
);
CREATE INDEX incidents_by_state ON incidents (state, raised_at DESC);
CREATE INDEX incidents_by_unit ON incidents (maintenance_unit, raised_at DESC);

CREATE TABLE incident_steps (
    id           bigserial PRIMARY KEY,
    incident_id  bigint      NOT NULL REFERENCES incidents (id),
    step         text        NOT NULL,  -- raised, acknowledged, ..., comment, escalated
    actor        text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    comment      text,
    details      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX incident_steps_by_incident ON incident_steps (incident_id, id);

CREATE TABLE rule_state (
    device_id   text        PRIMARY KEY,
    state       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
