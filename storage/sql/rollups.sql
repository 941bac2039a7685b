-- rollups_create_incoming --
-- The session's staging table of a claim's summaries (`daily` tells the tables apart), empty: it is emptied at the end of every transaction, and here for a transaction that folds twice.
CREATE TEMP TABLE IF NOT EXISTS rollups_incoming (daily boolean NOT NULL, LIKE readings_hourly)
    ON COMMIT DELETE ROWS;
DELETE FROM rollups_incoming;

-- rollups_add --
-- Fold the staged summaries of one rollup table (ROLLUP: hourly or daily) into it, locking rows in (device, sensor, bucket) order.
WITH incoming AS (
    SELECT bucket, device_id, sensor_id,
           count, sum, sum_sq, min, max, first_time, first_value, last_time, last_value,
           raw_count, raw_sum, raw_sum_sq, raw_min, raw_max,
           raw_first_time, raw_first_value, raw_last_time, raw_last_value
      FROM rollups_incoming
     WHERE daily = ROLLUP_IS_DAILY
)
INSERT INTO readings_ROLLUP AS r
       (bucket, device_id, sensor_id,
        count, sum, sum_sq, min, max, first_time, first_value, last_time, last_value,
        raw_count, raw_sum, raw_sum_sq, raw_min, raw_max,
        raw_first_time, raw_first_value, raw_last_time, raw_last_value)
SELECT s.bucket, s.device_id, s.sensor_id,
       s.count,
       CASE WHEN s.count > 0 THEN s.sum END,
       CASE WHEN s.count > 0 THEN s.sum_sq END,
       CASE WHEN s.count > 0 THEN s.min END,
       CASE WHEN s.count > 0 THEN s.max END,
       CASE WHEN s.count > 0 THEN s.first_time END,
       CASE WHEN s.count > 0 THEN s.first_value END,
       CASE WHEN s.count > 0 THEN s.last_time END,
       CASE WHEN s.count > 0 THEN s.last_value END,
       s.raw_count,
       CASE WHEN s.raw_count > 0 THEN s.raw_sum END,
       CASE WHEN s.raw_count > 0 THEN s.raw_sum_sq END,
       CASE WHEN s.raw_count > 0 THEN s.raw_min END,
       CASE WHEN s.raw_count > 0 THEN s.raw_max END,
       CASE WHEN s.raw_count > 0 THEN s.raw_first_time END,
       CASE WHEN s.raw_count > 0 THEN s.raw_first_value END,
       CASE WHEN s.raw_count > 0 THEN s.raw_last_time END,
       CASE WHEN s.raw_count > 0 THEN s.raw_last_value END
  FROM incoming AS s
 ORDER BY s.device_id, s.sensor_id, s.bucket
    ON CONFLICT (device_id, sensor_id, bucket) DO UPDATE
   SET count = r.count + excluded.count,
       sum = coalesce(r.sum + excluded.sum, r.sum, excluded.sum),
       sum_sq = coalesce(r.sum_sq + excluded.sum_sq, r.sum_sq, excluded.sum_sq),
       min = least(r.min, excluded.min),
       max = greatest(r.max, excluded.max),
       first_time = CASE WHEN r.first_time IS NULL OR excluded.first_time < r.first_time
                         THEN excluded.first_time ELSE r.first_time END,
       first_value = CASE WHEN r.first_time IS NULL OR excluded.first_time < r.first_time
                          THEN excluded.first_value ELSE r.first_value END,
       last_time = CASE WHEN r.last_time IS NULL OR excluded.last_time > r.last_time
                        THEN excluded.last_time ELSE r.last_time END,
       last_value = CASE WHEN r.last_time IS NULL OR excluded.last_time > r.last_time
                         THEN excluded.last_value ELSE r.last_value END,
       raw_count = r.raw_count + excluded.raw_count,
       raw_sum = coalesce(r.raw_sum + excluded.raw_sum, r.raw_sum, excluded.raw_sum),
       raw_sum_sq = coalesce(r.raw_sum_sq + excluded.raw_sum_sq, r.raw_sum_sq, excluded.raw_sum_sq),
       raw_min = least(r.raw_min, excluded.raw_min),
       raw_max = greatest(r.raw_max, excluded.raw_max),
       raw_first_time = CASE WHEN r.raw_first_time IS NULL
                                  OR excluded.raw_first_time < r.raw_first_time
                             THEN excluded.raw_first_time ELSE r.raw_first_time END,
       raw_first_value = CASE WHEN r.raw_first_time IS NULL
                                   OR excluded.raw_first_time < r.raw_first_time
                              THEN excluded.raw_first_value ELSE r.raw_first_value END,
       raw_last_time = CASE WHEN r.raw_last_time IS NULL
                                 OR excluded.raw_last_time > r.raw_last_time
                            THEN excluded.raw_last_time ELSE r.raw_last_time END,
       raw_last_value = CASE WHEN r.raw_last_time IS NULL
                                  OR excluded.raw_last_time > r.raw_last_time
                             THEN excluded.raw_last_value ELSE r.raw_last_value END;

-- rollups_lock --
-- Lock a series' rows of [start, end) (whole buckets) in one rollup table, creating empty ones where missing, so no claim changes them until the transaction ends.
INSERT INTO readings_ROLLUP AS r (bucket, device_id, sensor_id, count, raw_count)
SELECT bucket, $1::bigint, $2::integer, 0, 0
  FROM generate_series(timestamptz 'epoch' + $3::bigint * interval '1 microsecond',
                       timestamptz 'epoch' + ($4::bigint - 1) * interval '1 microsecond',
                       ROLLUP_WIDTH) AS bucket
    ON CONFLICT (device_id, sensor_id, bucket) DO UPDATE SET count = r.count;

-- rollups_delete --
-- Delete a series' rows of [start, end) from one rollup table.
DELETE FROM readings_ROLLUP
 WHERE device_id = $1 AND sensor_id = $2
   AND bucket >= timestamptz 'epoch' + $3::bigint * interval '1 microsecond'
   AND bucket < timestamptz 'epoch' + $4::bigint * interval '1 microsecond';

-- rollups_summarise --
-- Summarise a series' stored readings of [start, end) (whole buckets) into one rollup table, one row per bucket that has readings.
INSERT INTO readings_ROLLUP
       (bucket, device_id, sensor_id,
        count, sum, sum_sq, min, max, first_time, first_value, last_time, last_value,
        raw_count, raw_sum, raw_sum_sq, raw_min, raw_max,
        raw_first_time, raw_first_value, raw_last_time, raw_last_value)
SELECT time_bucket(ROLLUP_WIDTH, time) AS bucket, $1::bigint, $2::integer,
       count(value), sum(value), sum(value * value), min(value), max(value),
       min(time) FILTER (WHERE value IS NOT NULL),
       first(value, time) FILTER (WHERE value IS NOT NULL),
       max(time) FILTER (WHERE value IS NOT NULL),
       last(value, time) FILTER (WHERE value IS NOT NULL),
       count(raw_value), sum(raw_value), sum(raw_value * raw_value),
       min(raw_value), max(raw_value),
       min(time) FILTER (WHERE raw_value IS NOT NULL),
       first(raw_value, time) FILTER (WHERE raw_value IS NOT NULL),
       max(time) FILTER (WHERE raw_value IS NOT NULL),
       last(raw_value, time) FILTER (WHERE raw_value IS NOT NULL)
  FROM readings
 WHERE device_id = $1 AND sensor_id = $2
   AND time >= timestamptz 'epoch' + $3::bigint * interval '1 microsecond'
   AND time < timestamptz 'epoch' + $4::bigint * interval '1 microsecond'
 GROUP BY bucket
 ORDER BY bucket;
