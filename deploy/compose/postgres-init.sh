#!/bin/sh
# Runs once, when the postgres service starts on an empty volume: the roles of the README's "Database roles".
# The owner runs migrations and owns every object; `serve` logs in as mailgate_app, a member of the group role
# mailgate_service that the migrations grant what the service needs and no more.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$PG_OWNER_PASSWORD" -v service_password="$PG_SERVICE_PASSWORD" <<'SQL'
CREATE ROLE mailgate_service NOLOGIN;
CREATE ROLE mailgate_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE mailgate_app LOGIN PASSWORD :'service_password' IN ROLE mailgate_service;
CREATE DATABASE mailgate OWNER mailgate_owner;
SQL
