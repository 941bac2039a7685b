"""Everything that touches the database: SQL, migrations, pools, the embedded cluster, row types."""
