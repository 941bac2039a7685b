-- The query service keeps device documents' rows in memory while it listens, and drops a
-- document as soon as what it was read from changes: anything that writes a device, its
-- components or latest readings, its owner, its kit or the sensor catalogue notifies
-- `sensorium_documents_changed` with what changed:
--   devices:<id>,<id>,...   these devices (at most 300 ids a notification)
--   owner:<id>              every device of this user
--   all                     every device (a kit, the catalogue, or a truncated table)
-- Notifications are delivered at commit, identical ones of a transaction folded into one.
--
-- The tables the workers write at every claim (latest_readings, devices) notify once a
-- statement, from its transition table, never once a row: a PL/pgSQL call for every latest
-- row would be on the ingest path. (A transition table is allowed for one event per trigger.)
-- Measured: an upsert of 5,000 latest rows and an update of 500 devices, as a claim makes them,
-- 21 -> 23.5 ms with these triggers (docs/performance.md).

CREATE FUNCTION notify_documents_by_device_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- `changed`: the statement's new rows for an insert or an update, its old rows for a delete.
    PERFORM pg_notify('sensorium_documents_changed', 'devices:' || string_agg(id::text, ','))
       FROM (SELECT id, (row_number() OVER () - 1) / 300 AS part
               FROM (SELECT DISTINCT device_id AS id FROM changed) AS ids) AS numbered
      GROUP BY part;
    RETURN NULL;
END;
$$;

-- The same for the devices table, whose rows name the device `id`.
CREATE FUNCTION notify_documents_by_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sensorium_documents_changed', 'devices:' || string_agg(id::text, ','))
       FROM (SELECT id, (row_number() OVER () - 1) / 300 AS part FROM changed) AS numbered
      GROUP BY part;
    RETURN NULL;
END;
$$;

CREATE FUNCTION notify_documents_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sensorium_documents_changed', 'owner:' || OLD.id);
    RETURN NULL;
END;
$$;

CREATE FUNCTION notify_documents_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sensorium_documents_changed', 'all');
    RETURN NULL;
END;
$$;

CREATE TRIGGER devices_notify_documents_insert
    AFTER INSERT ON devices REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_id();
CREATE TRIGGER devices_notify_documents_update
    AFTER UPDATE ON devices REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_id();
CREATE TRIGGER devices_notify_documents_delete
    AFTER DELETE ON devices REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_id();

CREATE TRIGGER latest_readings_notify_documents_insert
    AFTER INSERT ON latest_readings REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_device_id();
-- An update never moves a latest row to another device (device_id is its key): its new rows
-- name the devices, and its old ones need not be kept as well.
CREATE TRIGGER latest_readings_notify_documents_update
    AFTER UPDATE ON latest_readings REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_device_id();
CREATE TRIGGER latest_readings_notify_documents_delete
    AFTER DELETE ON latest_readings REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_device_id();

CREATE TRIGGER components_notify_documents_insert
    AFTER INSERT ON components REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_device_id();
-- A component may move to another device: both devices are named.
CREATE TRIGGER components_notify_documents_update
    AFTER UPDATE ON components REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_device_id();
CREATE TRIGGER components_notify_documents_update_from
    AFTER UPDATE ON components REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_device_id();
CREATE TRIGGER components_notify_documents_delete
    AFTER DELETE ON components REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_by_device_id();

-- A user's row: rare writes (a profile, a password, a deletion), one notification a row.
CREATE TRIGGER users_notify_documents
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_documents_owner();

CREATE TRIGGER kits_notify_documents
    AFTER UPDATE OR DELETE OR TRUNCATE ON kits
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_all();
CREATE TRIGGER kit_sensors_notify_documents
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kit_sensors
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_all();
CREATE TRIGGER sensors_notify_documents
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sensors
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_all();
CREATE TRIGGER measurements_notify_documents
    AFTER UPDATE OR DELETE OR TRUNCATE ON measurements
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_all();
CREATE TRIGGER devices_truncate_notify_documents
    AFTER TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_all();
CREATE TRIGGER latest_readings_truncate_notify_documents
    AFTER TRUNCATE ON latest_readings
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_all();
CREATE TRIGGER components_truncate_notify_documents
    AFTER TRUNCATE ON components
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_all();
CREATE TRIGGER users_truncate_notify_documents
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_documents_all();
