-- catalogue_sensors --
-- Every sensor of the catalogue with its calibration.
SELECT id, name, default_key, unit, equation, reverse_equation, updated_at
  FROM sensors
 ORDER BY id;
