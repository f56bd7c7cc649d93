-- The register of special equipment, its inspections and schedules, the notices sent about
-- them, and the daily inspection-rate snapshots.

CREATE TABLE parties (
    id             bigserial PRIMARY KEY,
    code           text NOT NULL UNIQUE,      -- unified social credit code, or the register's own
    name           text NOT NULL,
    role           text NOT NULL,             -- owner (使用单位) | maintenance (维保单位) | agency (检验机构) | bureau
    contact        text,
    phone          text,
    email          text,
    webhook_url    text,
    webhook_secret text,                      -- HMAC key for signed notices
    district_code  text,
    CHECK (role IN ('owner', 'maintenance', 'agency', 'bureau'))
);

CREATE TABLE equipment (
    registration_code   text PRIMARY KEY,     -- 设备代码, also the devices' MQTT id
    category            text NOT NULL,
    type                text,                 -- e.g. tower (crane), GC2 (piping)
    address             text,
    district_code       text NOT NULL,
    owner_id            bigint REFERENCES parties (id),
    maintenance_id      bigint REFERENCES parties (id),
    agency_id           bigint REFERENCES parties (id),
    status              text NOT NULL DEFAULT 'in_use',
    commissioned_on     date,
    rated               jsonb NOT NULL DEFAULT '{}'::jsonb,   -- floors, rated_speed_mps, rated_pressure_mpa, safety_grade, gas…
    interval_overrides  jsonb NOT NULL DEFAULT '{}'::jsonb,   -- {"periodic": 24}: months, per schedule
    next_due            date,                 -- the earliest due date of its schedules
    fit_for_use         boolean NOT NULL DEFAULT true,        -- false after a failed inspection, until one passes
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (status IN ('in_use', 'stopped', 'scrapped')),
    CHECK (category IN ('elevator', 'boiler', 'pressure_vessel', 'pressure_piping', 'gas_cylinder', 'crane',
                        'in_plant_vehicle', 'large_amusement_ride', 'passenger_ropeway'))
);
CREATE INDEX equipment_in_use_due ON equipment (next_due) WHERE status = 'in_use';
CREATE INDEX equipment_agency ON equipment (agency_id);
CREATE INDEX equipment_district ON equipment (district_code);

CREATE TABLE equipment_schedules (
    registration_code  text NOT NULL REFERENCES equipment (registration_code) ON DELETE CASCADE,
    schedule           text NOT NULL,         -- periodic | external | internal | hydrostatic
    interval_months    integer NOT NULL,
    last_inspected     date,
    next_due           date,
    PRIMARY KEY (registration_code, schedule)
);

CREATE TABLE inspections (
    id                 bigserial PRIMARY KEY,
    registration_code  text NOT NULL REFERENCES equipment (registration_code) ON DELETE CASCADE,
    schedule           text NOT NULL,         -- which schedule it satisfies: periodic, external, …
    inspected_on       date NOT NULL,
    result             text NOT NULL,
    agency_id          bigint REFERENCES parties (id),
    report_no          text,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    recorded_by        text,
    CHECK (result IN ('pass', 'conditional', 'fail')),
    UNIQUE (registration_code, schedule, inspected_on)
);

CREATE TABLE notices (
    id                 bigserial PRIMARY KEY,
    key                text NOT NULL UNIQUE,  -- idempotency: one notice per key, however often the scan runs
    kind               text NOT NULL,         -- due | overdue
    registration_code  text NOT NULL REFERENCES equipment (registration_code) ON DELETE CASCADE,
    schedule           text NOT NULL,
    due_date           date NOT NULL,
    recipient_id       bigint NOT NULL REFERENCES parties (id),
    channel            text NOT NULL,         -- webhook | email
    payload            jsonb NOT NULL,
    state              text NOT NULL DEFAULT 'pending',
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    delivered_at       timestamptz,
    CHECK (kind IN ('due', 'overdue')),
    CHECK (channel IN ('webhook', 'email')),
    CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled'))
);
CREATE INDEX notices_to_send ON notices (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notices_by_equipment ON notices (registration_code);

CREATE TABLE rate_snapshots (
    day        date NOT NULL,
    dimension  text NOT NULL,                 -- city | category | district | agency
    key        text NOT NULL,
    in_use     integer NOT NULL,
    overdue    integer NOT NULL,
    PRIMARY KEY (day, dimension, key)
);
