-- readings_create_incoming --
-- The session's staging table for the deduplicating insert: emptied by each statement that reads it, and truncated at commit so its dead rows never pile up (autovacuum does not visit temporary tables).
CREATE TEMP TABLE IF NOT EXISTS readings_incoming (LIKE readings) ON COMMIT DELETE ROWS;

-- readings_insert_incoming --
-- Move the staged rows into readings, skipping any (device, sensor, time) already stored or staged twice; returns the rows inserted as arrays (NULL for none, NaN for NULL values).
WITH incoming AS (
    DELETE FROM readings_incoming
    RETURNING time, device_id, sensor_id, raw_value, value
), stored AS (
    INSERT INTO readings (time, device_id, sensor_id, raw_value, value)
    SELECT time, device_id, sensor_id, raw_value, value FROM incoming
    ON CONFLICT DO NOTHING
    RETURNING time, device_id, sensor_id, raw_value, value
)
SELECT array_agg((extract(epoch FROM time) * 1000000)::bigint) AS times,
       array_agg(device_id) AS device_ids,
       array_agg(sensor_id) AS sensor_ids,
       array_agg(coalesce(raw_value, 'NaN')) AS raw_values,
       array_agg(coalesce(value, 'NaN')) AS "values"
  FROM stored;

-- readings_create_latest_incoming --
-- The session's staging table of a claim's latest readings per series, empty (it is emptied at the end of every transaction, and here for a transaction that updates twice); NaN stands for NULL, and prev_* mean nothing where has_prev is false.
CREATE TEMP TABLE IF NOT EXISTS latest_incoming (
    device_id      bigint NOT NULL,
    sensor_id      integer NOT NULL,
    time           timestamptz NOT NULL,
    raw_value      double precision NOT NULL,
    value          double precision NOT NULL,
    has_prev       boolean NOT NULL,
    prev_time      timestamptz NOT NULL,
    prev_raw_value double precision NOT NULL,
    prev_value     double precision NOT NULL
) ON COMMIT DELETE ROWS;
DELETE FROM latest_incoming;

-- readings_update_latest --
-- Move each staged series' latest reading forward (never back), keeping the one it replaces as prev_*; rows are locked in (device, sensor) order.
WITH s AS (
    SELECT device_id, sensor_id, time, raw_value, value,
           has_prev, prev_time, prev_raw_value, prev_value
      FROM latest_incoming
)
INSERT INTO latest_readings AS latest
       (device_id, sensor_id, time, raw_value, value, prev_time, prev_raw_value, prev_value)
SELECT s.device_id, s.sensor_id, s.time, nullif(s.raw_value, 'NaN'), nullif(s.value, 'NaN'),
       CASE WHEN s.has_prev THEN s.prev_time END,
       CASE WHEN s.has_prev THEN nullif(s.prev_raw_value, 'NaN') END,
       CASE WHEN s.has_prev THEN nullif(s.prev_value, 'NaN') END
  FROM s
 ORDER BY s.device_id, s.sensor_id
    ON CONFLICT (device_id, sensor_id) DO UPDATE
   SET time = excluded.time,
       raw_value = excluded.raw_value,
       value = excluded.value,
       prev_time = CASE WHEN excluded.prev_time > latest.time
                        THEN excluded.prev_time ELSE latest.time END,
       prev_raw_value = CASE WHEN excluded.prev_time > latest.time
                             THEN excluded.prev_raw_value ELSE latest.raw_value END,
       prev_value = CASE WHEN excluded.prev_time > latest.time
                         THEN excluded.prev_value ELSE latest.value END
 WHERE latest.time < excluded.time;

-- readings_add_components --
-- Make each catalogue sensor a device posts for the first time one of its components, under
-- the key its kit posts it by (else the sensor's default key).
INSERT INTO components (device_id, sensor_id, key)
SELECT p.device_id, p.sensor_id, coalesce(ks.key, s.default_key, s.id::text)
  FROM unnest($1::bigint[], $2::integer[]) AS p(device_id, sensor_id)
  JOIN devices d ON d.id = p.device_id
  JOIN sensors s ON s.id = p.sensor_id
  LEFT JOIN kit_sensors ks ON ks.kit_id = d.kit_id AND ks.sensor_id = p.sensor_id
 WHERE NOT EXISTS (
       SELECT 1 FROM components c WHERE c.device_id = p.device_id AND c.sensor_id = p.sensor_id)
 ORDER BY p.device_id, p.sensor_id
    ON CONFLICT (device_id, sensor_id) DO NOTHING;

-- readings_touch_devices --
-- Record when devices last posted and their newest reading (locking devices in id order).
WITH seen AS (
    SELECT u.device_id, timestamptz 'epoch' + u.newest_us * interval '1 microsecond' AS newest
      FROM unnest($1::bigint[], $2::bigint[]) AS u(device_id, newest_us)
), locked AS MATERIALIZED (
    SELECT d.id FROM devices d JOIN seen ON seen.device_id = d.id
     ORDER BY d.id
       FOR NO KEY UPDATE OF d
)
UPDATE devices d
   SET last_reading_at = greatest(d.last_reading_at, seen.newest),
       last_posted_at = now()
  FROM seen JOIN locked ON locked.id = seen.device_id
 WHERE d.id = seen.device_id;

-- readings_next_time --
-- The time (µs since the epoch) of a series' first reading in [start, end), a NULL bound being open; NULL if there is none.
SELECT (extract(epoch FROM time) * 1000000)::bigint
  FROM readings
 WHERE device_id = $1 AND sensor_id = $2
   AND time >= coalesce(timestamptz 'epoch' + $3::bigint * interval '1 microsecond', '-infinity')
   AND time < coalesce(timestamptz 'epoch' + $4::bigint * interval '1 microsecond', 'infinity')
 ORDER BY time
 LIMIT 1;

-- readings_raw_values --
-- The first $5 readings of a series in [start, end) by time, as arrays of µs times and raw values (NaN for NULL); NULLs if none.
SELECT array_agg(page.time_us ORDER BY page.time_us), array_agg(page.raw_value ORDER BY page.time_us)
  FROM (SELECT (extract(epoch FROM time) * 1000000)::bigint AS time_us,
               coalesce(raw_value, 'NaN') AS raw_value
          FROM readings
         WHERE device_id = $1 AND sensor_id = $2
           AND time >= timestamptz 'epoch' + $3::bigint * interval '1 microsecond'
           AND time < timestamptz 'epoch' + $4::bigint * interval '1 microsecond'
         ORDER BY time
         LIMIT $5) AS page;

-- readings_set_values --
-- Set the calibrated value of a series' readings at the given times, all within [$5, $6] (NaN: NULL), where it differs.
UPDATE readings AS r
   SET value = nullif(u.value, 'NaN')
  FROM unnest($3::bigint[], $4::float8[]) AS u(time_us, value)
 WHERE r.device_id = $1 AND r.sensor_id = $2
   AND r.time = timestamptz 'epoch' + u.time_us * interval '1 microsecond'
   AND r.time >= timestamptz 'epoch' + $5::bigint * interval '1 microsecond'
   AND r.time <= timestamptz 'epoch' + $6::bigint * interval '1 microsecond'
   AND r.value IS DISTINCT FROM nullif(u.value, 'NaN');

-- readings_refresh_latest_values --
-- Re-read a series' latest and previous calibrated values from readings where their times fall in [start, end).
WITH bounds AS (
    SELECT timestamptz 'epoch' + $3::bigint * interval '1 microsecond' AS start,
           timestamptz 'epoch' + $4::bigint * interval '1 microsecond' AS stop
)
UPDATE latest_readings AS l
   SET value = CASE WHEN l.time >= b.start AND l.time < b.stop
                         AND EXISTS (SELECT FROM readings r WHERE r.device_id = l.device_id
                                        AND r.sensor_id = l.sensor_id AND r.time = l.time)
                    THEN (SELECT r.value FROM readings r WHERE r.device_id = l.device_id
                             AND r.sensor_id = l.sensor_id AND r.time = l.time)
                    ELSE l.value END,
       prev_value = CASE WHEN l.prev_time >= b.start AND l.prev_time < b.stop
                              AND EXISTS (SELECT FROM readings r WHERE r.device_id = l.device_id
                                             AND r.sensor_id = l.sensor_id AND r.time = l.prev_time)
                         THEN (SELECT r.value FROM readings r WHERE r.device_id = l.device_id
                                  AND r.sensor_id = l.sensor_id AND r.time = l.prev_time)
                         ELSE l.prev_value END
  FROM bounds AS b
 WHERE l.device_id = $1 AND l.sensor_id = $2
   AND (l.time >= b.start AND l.time < b.stop OR l.prev_time >= b.start AND l.prev_time < b.stop);
