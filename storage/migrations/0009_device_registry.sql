-- The device registry: devices are created, edited and deleted through the API. A deleted device
-- (deleted_at) disappears from every answer at once; its readings, rollups and latest values are
-- then purged by the workers a slice at a time (workers/purge.py), and `purged_at` records when
-- nothing of it is left.
ALTER TABLE devices ADD COLUMN purged_at timestamptz;

-- The workers' purge looks for deleted devices not yet purged: few, and found by this index.
CREATE INDEX devices_purge_pending_idx ON devices (deleted_at, id)
    WHERE deleted_at IS NOT NULL AND purged_at IS NULL;
