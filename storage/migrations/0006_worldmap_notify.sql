-- The query service keeps the world map as a snapshot in memory, rebuilt when what it shows
-- changes. Rather than have it poll, anything that changes devices, their owners, their kits or
-- their latest readings notifies `sensorium_devices_changed`: once per statement, and PostgreSQL
-- folds identical notifications of one transaction into one, delivered at commit (so a worker's
-- claim transaction, which updates latest_readings and devices, sends one).

CREATE FUNCTION notify_devices_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sensorium_devices_changed', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER devices_notify_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION notify_devices_changed();

CREATE TRIGGER latest_readings_notify_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON latest_readings
    FOR EACH STATEMENT EXECUTE FUNCTION notify_devices_changed();

-- A new user or kit shows on no map until a device refers to it, which notifies by itself.
CREATE TRIGGER users_notify_changed
    AFTER UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_devices_changed();

CREATE TRIGGER kits_notify_changed
    AFTER UPDATE OR DELETE ON kits
    FOR EACH STATEMENT EXECUTE FUNCTION notify_devices_changed();
