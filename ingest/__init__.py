"""The ingest gateway: SmartCitizen readings endpoints, legacy SCK 1.x `/add`, group commit."""
