"""The query service: device documents and readings, for dashboards and clients."""
