-- A unit is fit for use only when the latest inspection of every one of its schedules is not a
-- fail and none of its schedules is 0 months (registry/store.py keeps it so at every write).
-- Before, a pass on one schedule made the unit fit although another had failed: recompute.
UPDATE equipment SET fit_for_use = NOT EXISTS (
    SELECT 1 FROM equipment_schedules s
    WHERE s.registration_code = equipment.registration_code
      AND (s.interval_months <= 0
           OR (SELECT i.result FROM inspections i
               WHERE i.registration_code = s.registration_code AND i.schedule = s.schedule
               ORDER BY i.inspected_on DESC LIMIT 1) = 'fail'))
WHERE fit_for_use IS DISTINCT FROM NOT EXISTS (
    SELECT 1 FROM equipment_schedules s
    WHERE s.registration_code = equipment.registration_code
      AND (s.interval_months <= 0
           OR (SELECT i.result FROM inspections i
               WHERE i.registration_code = s.registration_code AND i.schedule = s.schedule
               ORDER BY i.inspected_on DESC LIMIT 1) = 'fail'));
