-- listener_ping --
-- A round trip on a LISTEN connection, to know it is alive and its notifications delivered.
SELECT 1;
