-- Legacy SCK 1.x posts find their device by MAC address, compared case-insensitively: index
-- lower(mac_address) so that look-up is an index probe, and keep live MACs unique that way.
DROP INDEX devices_mac_address_key;
CREATE UNIQUE INDEX devices_mac_address_key ON devices (lower(mac_address)) WHERE deleted_at IS NULL;
