#!/bin/sh
# Runs once, on an empty data directory (the postgres image's /docker-entrypoint-initdb.d).
# Three roles, each with its own password from a compose/Kubernetes secret:
#   covo_migrate  owns the covo database: migrations and the admin seed (the one-shot job)
#   covo_app      what the API and the workers use: read and write rows, no DDL
#   temporal      owns Temporal's two databases; cannot reach covo's
set -eu
SECRETS="${SECRETS_DIR:-/run/secrets}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v migrate_pw="$(cat "$SECRETS"/db_migrate_password)" \
    -v app_pw="$(cat "$SECRETS"/db_app_password)" \
    -v temporal_pw="$(cat "$SECRETS"/db_temporal_password)" <<'SQL'
CREATE ROLE covo_migrate LOGIN PASSWORD :'migrate_pw';
CREATE ROLE covo_app LOGIN PASSWORD :'app_pw';
CREATE ROLE temporal LOGIN PASSWORD :'temporal_pw';
CREATE DATABASE covo OWNER covo_migrate;
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE covo FROM PUBLIC;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;
GRANT CONNECT ON DATABASE covo TO covo_app;
\connect covo
GRANT USAGE ON SCHEMA public TO covo_app;
ALTER DEFAULT PRIVILEGES FOR ROLE covo_migrate IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO covo_app;
ALTER DEFAULT PRIVILEGES FOR ROLE covo_migrate IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO covo_app;
SQL
