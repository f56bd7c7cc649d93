-- The 96333 rescue workflow (alerts/incidents.py, docs/alerts.md "Rescue incidents"): incidents
-- reported by phone (no alarm until a device's links), the register's facts copied at opening,
-- the 'responded' step and its deadline, three levels of rescue, the record asked for at close,
-- and one open incident per device.

ALTER TABLE incidents
    ALTER COLUMN alarm_id DROP NOT NULL,
    ADD COLUMN source              text    NOT NULL DEFAULT 'device',  -- device | phone
    ADD COLUMN registered          boolean NOT NULL DEFAULT true,      -- false: not in the register
    ADD COLUMN caller              text,
    ADD COLUMN caller_phone        text,
    ADD COLUMN rescue_code         text,                               -- 救援识别码, copied at opening
    ADD COLUMN address             text,
    ADD COLUMN area                text,                               -- urban | other: the arrival limit's
    ADD COLUMN place               text,                               -- 使用场所 class
    ADD COLUMN latitude            double precision,
    ADD COLUMN longitude           double precision,
    ADD COLUMN tier                smallint,                           -- 1 maintenance unit, 2 网格救援站, 3 fire brigade 119
    ADD COLUMN rescuer             text,                               -- who the current tier sent
    ADD COLUMN rescuer_contact     text,
    ADD COLUMN responded_at        timestamptz,
    ADD COLUMN response_deadline   timestamptz,
    ADD COLUMN response_late       boolean NOT NULL DEFAULT false,
    ADD COLUMN response_missed     boolean NOT NULL DEFAULT false,     -- the current dispatch's, noted
    ADD COLUMN arrival_missed      boolean NOT NULL DEFAULT false,
    ADD COLUMN persons_released    integer,
    ADD COLUMN injuries            integer,
    ADD COLUMN cause_class         text,                               -- human | external | door_system | control_system | other
    ADD COLUMN self_release        boolean,
    ADD COLUMN callback_confirmed  boolean,
    ADD COLUMN callback_at         timestamptz,
    ADD CONSTRAINT incidents_source_check CHECK (source IN ('device', 'phone')),
    ADD CONSTRAINT incidents_area_check CHECK (area IN ('urban', 'other')),
    ADD CONSTRAINT incidents_tier_check CHECK (tier BETWEEN 1 AND 3),
    ADD CONSTRAINT incidents_counts_check CHECK (persons_released >= 0 AND injuries >= 0),
    ADD CONSTRAINT incidents_cause_class_check
        CHECK (cause_class IN ('human', 'external', 'door_system', 'control_system', 'other')),
    -- A device's incident starts from its alarm; a phone call's may have none.
    ADD CONSTRAINT incidents_alarm_check CHECK (source = 'phone' OR alarm_id IS NOT NULL);

ALTER TABLE incidents DROP CONSTRAINT incidents_state_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_state_check
    CHECK (state IN ('raised', 'acknowledged', 'dispatched', 'responded', 'on_site', 'released', 'closed',
                     'false_alarm'));

-- Incidents dispatched before: the maintenance unit is their tier.
UPDATE incidents SET tier = 1, rescuer = maintenance_unit, rescuer_contact = maintenance_contact
WHERE dispatched_at IS NOT NULL;

-- One device, one open incident. Before the rule, a device whose alarm cleared and came again
-- could have two: the older ones are closed here, with a note saying why.
WITH ranked AS (
    SELECT id, row_number() OVER (PARTITION BY device_id ORDER BY raised_at DESC, id DESC) AS n
    FROM incidents WHERE state NOT IN ('closed', 'false_alarm')
), closed AS (
    UPDATE incidents i SET state = 'closed', closed_at = now(), updated_at = now()
    FROM ranked r WHERE r.id = i.id AND r.n > 1
    RETURNING i.id
)
INSERT INTO incident_steps (incident_id, step, actor, comment)
SELECT id, 'comment', 'system', 'closed by migration 0010: a newer incident of the same device is open'
FROM closed;

CREATE UNIQUE INDEX incidents_one_open ON incidents (device_id) WHERE state NOT IN ('closed', 'false_alarm');
CREATE INDEX incidents_by_closed ON incidents (closed_at DESC) WHERE closed_at IS NOT NULL;
CREATE INDEX incident_steps_escalated ON incident_steps (at) WHERE step = 'escalated';
