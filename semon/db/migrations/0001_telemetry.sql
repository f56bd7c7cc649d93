-- Raw telemetry and device events as hypertables, the latest state per device, and the
-- record of every rejected message.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE elevator_telemetry (
    time          timestamptz      NOT NULL,
    device_id     text             NOT NULL,
    seq           bigint           NOT NULL,
    running       boolean          NOT NULL,
    direction     text             NOT NULL,
    floor         smallint         NOT NULL,
    door_locked   boolean          NOT NULL,
    door_zone     boolean          NOT NULL,
    passenger     boolean          NOT NULL,
    mode          text             NOT NULL,
    power         text             NOT NULL,
    speed_mps     real             NOT NULL,
    trip_count    bigint           NOT NULL,
    run_hours     double precision NOT NULL,
    received_at   timestamptz      NOT NULL
);
SELECT create_hypertable('elevator_telemetry', by_range('time', INTERVAL '1 day'),
                         create_default_indexes => false);
-- One index serves both per-device time queries and the redelivery check (same device, ts, seq).
CREATE UNIQUE INDEX elevator_telemetry_device_time_seq ON elevator_telemetry (device_id, time, seq);

CREATE TABLE boiler_telemetry (
    time                timestamptz NOT NULL,
    device_id           text        NOT NULL,
    seq                 bigint      NOT NULL,
    burner_on           boolean     NOT NULL,
    flame               boolean     NOT NULL,
    pressure_mpa        real        NOT NULL,
    water_level_mm      real        NOT NULL,
    outlet_temp_c       real        NOT NULL,
    return_temp_c       real        NOT NULL,
    flue_temp_c         real        NOT NULL,
    feedwater_flow_m3h  real        NOT NULL,
    fuel_flow_m3h       real        NOT NULL,
    received_at         timestamptz NOT NULL
);
SELECT create_hypertable('boiler_telemetry', by_range('time', INTERVAL '1 day'),
                         create_default_indexes => false);
CREATE UNIQUE INDEX boiler_telemetry_device_time_seq ON boiler_telemetry (device_id, time, seq);

CREATE TABLE device_events (
    time         timestamptz NOT NULL,
    device_id    text        NOT NULL,
    kind         text        NOT NULL,
    seq          bigint      NOT NULL,
    code         smallint    NOT NULL,
    floor        smallint,
    detail       text,
    received_at  timestamptz NOT NULL
);
SELECT create_hypertable('device_events', by_range('time', INTERVAL '7 days'),
                         create_default_indexes => false);
CREATE UNIQUE INDEX device_events_device_time_seq ON device_events (device_id, time, seq);
CREATE INDEX device_events_code_time ON device_events (code, time DESC);

-- The latest of everything per device: what the console and the rules read first.
CREATE TABLE device_state (
    device_id          text        PRIMARY KEY,
    kind               text        NOT NULL,
    first_seen         timestamptz NOT NULL,
    last_seen          timestamptz NOT NULL,  -- ingester clock, any message
    last_telemetry_at  timestamptz,           -- device clock, newest telemetry frame
    last_seq           bigint,
    telemetry          jsonb,
    last_event_at      timestamptz,
    last_event_code    smallint,
    online             boolean,
    status_changed_at  timestamptz
);

CREATE TABLE rejected_messages (
    id            bigserial   PRIMARY KEY,
    received_at   timestamptz NOT NULL,
    topic         text        NOT NULL,
    kind          text,
    device_id     text,
    reason        text        NOT NULL,
    detail        text        NOT NULL,
    payload       bytea       NOT NULL,  -- truncated
    payload_size  integer     NOT NULL
);
CREATE INDEX rejected_messages_received_at ON rejected_messages (received_at);
CREATE INDEX rejected_messages_device ON rejected_messages (device_id, received_at);
