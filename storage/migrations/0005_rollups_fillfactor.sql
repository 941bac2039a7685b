-- Rollup rows are updated in place many times (a daily row by every claim that holds a reading
-- of its series that day), and a row that cannot be updated on its own page gets a new index
-- entry for every version until vacuum. Half-empty pages keep nearly every update HOT (on the
-- same page, no index entry): measured, it halves the cost of a claim's rollup upserts. The
-- setting reaches existing and future chunks.
ALTER TABLE readings_hourly SET (fillfactor = 50);
ALTER TABLE readings_daily SET (fillfactor = 50);
