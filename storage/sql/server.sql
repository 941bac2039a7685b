-- server_facts --
-- The TimescaleDB version and license edition, and the durability settings in force.
SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb_version,
       current_setting('timescaledb.license', true) AS license,
       current_setting('fsync') AS fsync,
       current_setting('synchronous_commit') AS synchronous_commit,
       current_setting('server_version') AS server_version;

-- server_durability --
-- The durability settings this session commits under (a database or role may lower synchronous_commit).
SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit;
