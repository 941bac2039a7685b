-- claim_batches --
-- Lock up to $1 staged batches no other worker holds, oldest first (run inside a transaction).
SELECT id, device_id, received_at, n_readings, payload, attempts
  FROM ingest_batches
 ORDER BY id
 LIMIT $1
   FOR UPDATE SKIP LOCKED;

-- claim_batch_by_id --
-- Lock one staged batch if no other worker holds it (run inside a transaction).
SELECT id, device_id, received_at, n_readings, payload, attempts
  FROM ingest_batches
 WHERE id = $1
   FOR UPDATE SKIP LOCKED;

-- delete_batches --
-- Remove batches whose readings were stored in the same transaction.
DELETE FROM ingest_batches WHERE id = ANY($1::bigint[]);

-- count_failure --
-- Record a failed attempt at a batch; returns the attempts so far.
UPDATE ingest_batches
   SET attempts = attempts + 1, last_error = $2
 WHERE id = $1
RETURNING attempts;

-- move_to_dead_letters --
-- Move a batch that failed too often to dead_letters, with its last error.
WITH moved AS (
    DELETE FROM ingest_batches WHERE id = $1
    RETURNING id, device_id, received_at, n_readings, payload, attempts, last_error
)
INSERT INTO dead_letters (batch_id, device_id, received_at, n_readings, payload, attempts, error)
SELECT id, device_id, received_at, n_readings, payload, attempts, coalesce(last_error, 'unknown')
  FROM moved
RETURNING id;

-- replay_dead_letter --
-- Stage a dead letter's batch again (after its cause was fixed) and mark it replayed.
WITH letter AS (
    UPDATE dead_letters SET replayed_at = now()
     WHERE id = $1 AND replayed_at IS NULL
    RETURNING device_id, received_at, n_readings, payload
)
INSERT INTO ingest_batches (device_id, received_at, n_readings, payload)
SELECT device_id, received_at, n_readings, payload FROM letter
RETURNING id;

-- list_dead_letters --
-- Dead letters not yet replayed, oldest first.
SELECT id, batch_id, device_id, received_at, n_readings, attempts, error, failed_at
  FROM dead_letters
 WHERE replayed_at IS NULL
 ORDER BY id
 LIMIT $1;

-- staging_backlog --
-- How many batches and readings wait in staging.
SELECT count(*)::bigint AS batches, coalesce(sum(n_readings), 0)::bigint AS readings
  FROM ingest_batches;
