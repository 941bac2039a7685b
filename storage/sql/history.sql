-- history_device_sensors_by_id --
-- A device that is not deleted, with what deciding who may read its history needs, and each requested sensor id ($2, in order) as (sensor id, its key on the device: component, then kit, then catalogue, component id). One statement, where a device and its sensors were two round trips.
SELECT d.id, d.owner_id, d.kit_id, d.is_private, d.is_test,
       ARRAY(SELECT ROW(r.sensor_id, coalesce(c.key, ks.key, s.default_key), c.id)
               FROM unnest($2::integer[]) WITH ORDINALITY AS r(sensor_id, ord)
               LEFT JOIN sensors s ON s.id = r.sensor_id
               LEFT JOIN components c ON c.device_id = d.id AND c.sensor_id = r.sensor_id
               LEFT JOIN kit_sensors ks ON ks.kit_id = d.kit_id AND ks.sensor_id = r.sensor_id
              ORDER BY r.ord) AS sensors
  FROM devices d
 WHERE d.id = $1 AND d.deleted_at IS NULL;

-- history_device_sensors_by_key --
-- As history_device_sensors_by_id, for requested keys ($2): each resolved to a sensor by the device's components, then its kit, then the catalogue's default keys (sensor id NULL where none has it).
SELECT d.id, d.owner_id, d.kit_id, d.is_private, d.is_test,
       ARRAY(SELECT ROW(found.sensor_id, r.key, c.id)
               FROM unnest($2::text[]) WITH ORDINALITY AS r(key, ord)
               LEFT JOIN LATERAL (
                     SELECT candidate.sensor_id
                       FROM (SELECT 1 AS rank, cc.sensor_id FROM components cc
                              WHERE cc.device_id = d.id AND cc.key = r.key
                             UNION ALL
                             SELECT 2, ks.sensor_id FROM kit_sensors ks
                              WHERE ks.kit_id = d.kit_id AND ks.key = r.key
                             UNION ALL
                             SELECT 3, s.id FROM sensors s WHERE s.default_key = r.key) AS candidate
                      ORDER BY candidate.rank, candidate.sensor_id
                      LIMIT 1) AS found ON true
               LEFT JOIN components c ON c.device_id = d.id AND c.sensor_id = found.sensor_id
              ORDER BY r.ord) AS sensors
  FROM devices d
 WHERE d.id = $1 AND d.deleted_at IS NULL;

-- history_buckets --
-- One series' buckets, newest first: partial states from raw rows, hourly and daily rollups, folded per bucket.
-- $1 device, $2 sensor, $3 raw values?, $4 fixed bucket width in microseconds or $5 the sorted
-- bucket starts of a calendar rollup, [$6, $7) the range; raw rows serve [$6, $8) and
-- [$11, $7), readings_hourly [$8, $9) and [$10, $11), readings_daily [$9, $10) (the caller
-- makes every coarse bucket lie inside one requested bucket); $12 adds the empty buckets of the
-- range, $13 is the limit (NULL: none). Each source row becomes the same partial state (count,
-- sum, sum of squares, min, max, first, last), so where a bucket's rows come from cannot change
-- its aggregate: a raw row is the state of one reading.
WITH parts AS (
    SELECT r.time AS at, 1::bigint AS n, r.v AS sum, r.v * r.v AS sum_sq, r.v AS min, r.v AS max,
           r.time AS first_time, r.v AS first_value, r.time AS last_time, r.v AS last_value
      FROM (SELECT time, CASE WHEN $3::boolean THEN raw_value ELSE value END AS v
              FROM readings
             WHERE device_id = $1 AND sensor_id = $2 AND time >= $6 AND time < $8
            UNION ALL
            SELECT time, CASE WHEN $3::boolean THEN raw_value ELSE value END
              FROM readings
             WHERE device_id = $1 AND sensor_id = $2 AND time >= $11 AND time < $7) AS r
     WHERE r.v IS NOT NULL
    UNION ALL
    SELECT h.bucket,
           CASE WHEN $3::boolean THEN h.raw_count ELSE h.count END,
           CASE WHEN $3::boolean THEN h.raw_sum ELSE h.sum END,
           CASE WHEN $3::boolean THEN h.raw_sum_sq ELSE h.sum_sq END,
           CASE WHEN $3::boolean THEN h.raw_min ELSE h.min END,
           CASE WHEN $3::boolean THEN h.raw_max ELSE h.max END,
           CASE WHEN $3::boolean THEN h.raw_first_time ELSE h.first_time END,
           CASE WHEN $3::boolean THEN h.raw_first_value ELSE h.first_value END,
           CASE WHEN $3::boolean THEN h.raw_last_time ELSE h.last_time END,
           CASE WHEN $3::boolean THEN h.raw_last_value ELSE h.last_value END
      FROM (SELECT * FROM readings_hourly
             WHERE device_id = $1 AND sensor_id = $2 AND bucket >= $8 AND bucket < $9
            UNION ALL
            SELECT * FROM readings_hourly
             WHERE device_id = $1 AND sensor_id = $2 AND bucket >= $10 AND bucket < $11) AS h
     WHERE CASE WHEN $3::boolean THEN h.raw_count ELSE h.count END > 0
    UNION ALL
    SELECT d.bucket,
           CASE WHEN $3::boolean THEN d.raw_count ELSE d.count END,
           CASE WHEN $3::boolean THEN d.raw_sum ELSE d.sum END,
           CASE WHEN $3::boolean THEN d.raw_sum_sq ELSE d.sum_sq END,
           CASE WHEN $3::boolean THEN d.raw_min ELSE d.min END,
           CASE WHEN $3::boolean THEN d.raw_max ELSE d.max END,
           CASE WHEN $3::boolean THEN d.raw_first_time ELSE d.first_time END,
           CASE WHEN $3::boolean THEN d.raw_first_value ELSE d.first_value END,
           CASE WHEN $3::boolean THEN d.raw_last_time ELSE d.last_time END,
           CASE WHEN $3::boolean THEN d.raw_last_value ELSE d.last_value END
      FROM readings_daily AS d
     WHERE d.device_id = $1 AND d.sensor_id = $2 AND d.bucket >= $9 AND d.bucket < $10
       AND CASE WHEN $3::boolean THEN d.raw_count ELSE d.count END > 0
), filled AS (
    SELECT CASE WHEN $5::timestamptz[] IS NULL
                THEN time_bucket($4::bigint * interval '1 microsecond', at)
                ELSE ($5::timestamptz[])[width_bucket(at, $5::timestamptz[])]
           END AS bucket,
           sum(n)::bigint AS n, sum(sum) AS sum, sum(sum_sq) AS sum_sq, min(min) AS min,
           max(max) AS max, first(first_value, first_time) AS first_value,
           last(last_value, last_time) AS last_value
      FROM parts
     GROUP BY 1
), grid AS (
    SELECT starts.bucket
      FROM unnest($5::timestamptz[]) AS starts(bucket)
     WHERE $12::boolean
    UNION ALL
    SELECT generate_series(
               time_bucket($4::bigint * interval '1 microsecond', $7 - interval '1 microsecond'),
               time_bucket($4::bigint * interval '1 microsecond', $6),
               -$4::bigint * interval '1 microsecond'
           )
     WHERE $12::boolean AND $5::timestamptz[] IS NULL
)
SELECT bucket, filled.n, filled.sum, filled.sum_sq, filled.min, filled.max,
       filled.first_value, filled.last_value
  FROM filled FULL JOIN grid USING (bucket)
 ORDER BY bucket DESC
 LIMIT $13::bigint;

-- history_rollup_rows --
-- One series' buckets when a single rollup table (ROLLUP: hourly or daily) serves the whole range and each of its rows is one requested bucket: its rows, newest first, as history_buckets gives them without all_intervals.
-- $1 device, $2 sensor, $3 raw values?, [$4, $5) the range (whole buckets of the table), $6 the limit (NULL: none). Without the folding of partial states it plans and runs in half the time.
SELECT bucket,
       CASE WHEN $3::boolean THEN raw_count ELSE count END AS n,
       CASE WHEN $3::boolean THEN raw_sum ELSE sum END AS sum,
       CASE WHEN $3::boolean THEN raw_sum_sq ELSE sum_sq END AS sum_sq,
       CASE WHEN $3::boolean THEN raw_min ELSE min END AS min,
       CASE WHEN $3::boolean THEN raw_max ELSE max END AS max,
       CASE WHEN $3::boolean THEN raw_first_value ELSE first_value END AS first_value,
       CASE WHEN $3::boolean THEN raw_last_value ELSE last_value END AS last_value
  FROM readings_ROLLUP
 WHERE device_id = $1 AND sensor_id = $2 AND bucket >= $4 AND bucket < $5
   AND CASE WHEN $3::boolean THEN raw_count ELSE count END > 0
 ORDER BY bucket DESC
 LIMIT $6::bigint;

-- history_readings --
-- One series' stored readings in [$3, $4), newest first, at most $5 of them (NULL: all).
SELECT time, value, raw_value
  FROM readings
 WHERE device_id = $1 AND sensor_id = $2 AND time >= $3 AND time < $4
 ORDER BY time DESC
 LIMIT $5::bigint;

-- history_bucket_values --
-- One series' buckets as history_buckets or history_rollup_rows gives them ({buckets} is its text): their starts and one function's values, newest first, in two arrays, with the readings they hold.
-- Starts are microseconds since the epoch (TimescaleDB's own conversion, in C: a numeric `extract` cost the database almost what it saved the service), because asyncpg takes about a microsecond to make a datetime of each timestamptz.
-- {function} is the parameter after theirs ($14 or $7): avg, sum, min, max, first or last. avg is the same IEEE division of the
-- sum by the count that query/rollup.py's `evaluate` makes; a gap's value is NULL.
SELECT coalesce(array_agg(_timescaledb_functions.to_unix_microseconds(b.bucket) ORDER BY b.bucket DESC),
                '{}') AS starts,
       coalesce(array_agg(CASE {function}::text
                              WHEN 'avg' THEN b.sum / b.n
                              WHEN 'sum' THEN b.sum
                              WHEN 'min' THEN b.min
                              WHEN 'max' THEN b.max
                              WHEN 'first' THEN b.first_value
                              WHEN 'last' THEN b.last_value
                          END ORDER BY b.bucket DESC), '{}') AS bucket_values,
       coalesce(sum(b.n), 0)::bigint AS sample_size
  FROM ({buckets}) AS b;
