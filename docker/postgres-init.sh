#!/bin/sh
# Runs once, when the db volume is first initialised (the image's /docker-entrypoint-initdb.d), as the
# image's superuser: the roles that make row-level security bite (README, "Row-level security").
# agency_owner owns the tables (migrations SET ROLE to it); agency_app, which DATABASE_URL names, logs
# in, is neither superuser nor BYPASSRLS, and does not inherit the owner's rights.
set -eu
psql -v ON_ERROR_STOP=1 -v app_password="$AGENCY_APP_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE agency_owner NOLOGIN CREATEDB;
CREATE ROLE agency_app LOGIN PASSWORD :'app_password' NOSUPERUSER NOBYPASSRLS NOINHERIT;
GRANT agency_owner TO agency_app WITH INHERIT FALSE, SET TRUE;
ALTER DATABASE agency OWNER TO agency_owner;
GRANT USAGE, CREATE ON SCHEMA public TO agency_owner;
-- Under RLS PostgreSQL uses an index only for leakproof operators: the metadata filters, full text, LIKE.
ALTER FUNCTION jsonb_contains(jsonb, jsonb) LEAKPROOF;
ALTER FUNCTION jsonb_exists(jsonb, text) LEAKPROOF;
ALTER FUNCTION jsonb_exists_any(jsonb, text[]) LEAKPROOF;
ALTER FUNCTION jsonb_exists_all(jsonb, text[]) LEAKPROOF;
ALTER FUNCTION ts_match_vq(tsvector, tsquery) LEAKPROOF;
ALTER FUNCTION textlike(text, text) LEAKPROOF;
ALTER FUNCTION texticlike(text, text) LEAKPROOF;
SQL
