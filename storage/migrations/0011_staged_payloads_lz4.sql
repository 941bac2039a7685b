-- A staged payload of 100 readings (2,004 bytes) makes its row just larger than the size past
-- which PostgreSQL compresses a value, and one of 500 readings is compressed and moved out of
-- line. With pglz, the default, compressing it on every group commit and decompressing it on
-- every claim cost more than the rest of staging it: measured per batch of 100 readings, the
-- staging COPY fell from ≈ 46 to ≈ 34 µs of PostgreSQL's CPU with lz4, and for 500 readings
-- from ≈ 170 to ≈ 57 µs (the compressed payload then stays in the row). A server built without
-- lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE ingest_batches ALTER COLUMN payload SET COMPRESSION lz4;
    ALTER TABLE dead_letters ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: staged payloads stay compressed with pglz';
END;
$$;
