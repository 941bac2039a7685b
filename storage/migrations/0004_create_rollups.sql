-- Hourly and daily rollups of readings, kept exact by the workers in the same transaction as the
-- readings they summarise (duplicates are not counted). A history query is answered from the
-- coarsest table whose buckets divide the requested rollup; raw rows serve the rest.
--
-- Each row summarises one series (device, sensor) over one UTC bucket, for calibrated values
-- and for raw values (`raw=true` queries): the count of non-null values, their sum, sum of
-- squares (for the sample standard deviation), min, max, and the first and last values by time.

CREATE TABLE readings_hourly (
    bucket          timestamptz NOT NULL,
    device_id       bigint NOT NULL,
    sensor_id       integer NOT NULL,
    count           bigint NOT NULL,
    sum             double precision,
    sum_sq          double precision,
    min             double precision,
    max             double precision,
    first_time      timestamptz,
    first_value     double precision,
    last_time       timestamptz,
    last_value      double precision,
    raw_count       bigint NOT NULL,
    raw_sum         double precision,
    raw_sum_sq      double precision,
    raw_min         double precision,
    raw_max         double precision,
    raw_first_time  timestamptz,
    raw_first_value double precision,
    raw_last_time   timestamptz,
    raw_last_value  double precision
);
-- 7-day chunks: an hourly row per series is 1/60 of a minutely series' readings, so a week of
-- rollups is about as large as a few hours of readings.
SELECT create_hypertable('readings_hourly', 'bucket', chunk_time_interval => INTERVAL '7 days',
                         create_default_indexes => false);
CREATE UNIQUE INDEX readings_hourly_series_bucket_key ON readings_hourly (device_id, sensor_id, bucket);

CREATE TABLE readings_daily (LIKE readings_hourly INCLUDING DEFAULTS);
SELECT create_hypertable('readings_daily', 'bucket', chunk_time_interval => INTERVAL '180 days',
                         create_default_indexes => false);
CREATE UNIQUE INDEX readings_daily_series_bucket_key ON readings_daily (device_id, sensor_id, bucket);
