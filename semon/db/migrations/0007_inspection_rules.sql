-- The inspection rules of TSG T7001-2023 / TSG T7008-2023 (elevators) and of the other
-- categories (docs/registry.md, "Due dates"), and the register's own numbers.

ALTER TABLE equipment
    ADD COLUMN use_registration_no text,            -- 使用登记证编号: its own number, not the 设备代码
    ADD COLUMN scheme              text,            -- elevators: tsg2023 | yearly; NULL: the region's setting
    ADD COLUMN installed_on        date,            -- installation supervisory inspection (安装监督检验): the count's base
    ADD COLUMN renovated_on        date,            -- latest renovation supervisory inspection (改造): restarts the count
    ADD COLUMN major_repair_on     date,            -- latest major repair supervisory inspection (重大修理): keeps it
    ADD COLUMN manufactured_on     date,            -- gas cylinders: periods and design life count from it
    ADD COLUMN stopped_on          date,            -- when the latest stop (停用) began
    ADD COLUMN resumed_on          date,            -- when the unit came back into use after it
    ADD COLUMN relocated_on        date,            -- boilers: the latest relocation (移装)
    ADD COLUMN exempt              boolean NOT NULL DEFAULT false,  -- no periodic inspection at all (never overdue)
    ADD CONSTRAINT equipment_scheme CHECK (scheme IN ('tsg2023', 'yearly'));

-- The next date the latest inspection report of the schedule states (the registration record
-- holds it as a year and month: kept as the month's last day). When present, it is the due date.
ALTER TABLE equipment_schedules
    ADD COLUMN stated_next date,
    ADD COLUMN basis       text,                 -- why it falls due then: the rule, e.g. "year 4: periodic inspection"
    -- false: the rules now in force do not give the unit this schedule (a scheme or type changed);
    -- the row keeps its history, in case they give it again, but has no due date.
    ADD COLUMN owed        boolean NOT NULL DEFAULT true;
ALTER TABLE inspections ADD COLUMN next_stated date;

-- The rules the stored due dates were computed by (a digest of registry/intervals.toml and the
-- scheme settings): when they change, every unit's due dates are computed again.
CREATE TABLE registry_rules (
    id           integer PRIMARY KEY CHECK (id = 1),
    fingerprint  text NOT NULL,
    applied_at   timestamptz NOT NULL
);
