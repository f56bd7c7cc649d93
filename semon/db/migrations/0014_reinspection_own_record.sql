-- A re-inspection (复检) is its own record, even on the day of the failure it follows: the key of an
-- inspection is the unit, the schedule, the day and the kind, so a 不合格 and the 复检 合格 of the
-- same day both stay in the history, each with its report number. A second record of the same
-- kind on the same day is a correction of the first (registry.store.record_inspection says so).

ALTER TABLE inspections
    DROP CONSTRAINT inspections_registration_code_schedule_inspected_on_key,
    ADD CONSTRAINT inspections_unit_schedule_day_kind UNIQUE (registration_code, schedule, inspected_on, kind);
