-- The query service now reads only the devices written since its last read of the world map
-- (storage/worldmap.py, `changed_devices`: by the transaction ids rows are stamped with), which
-- cannot see a deleted row. A deletion therefore notifies with the payload `full`, and the map is
-- read whole again; any other change notifies as before, with an empty payload. PostgreSQL folds
-- identical notifications of one transaction into one, so a transaction that deletes and
-- updates sends one of each.

CREATE OR REPLACE FUNCTION notify_devices_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'sensorium_devices_changed',
        CASE WHEN TG_OP IN ('DELETE', 'TRUNCATE') THEN 'full' ELSE '' END
    );
    RETURN NULL;
END;
$$;
