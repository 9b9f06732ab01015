#!/usr/bin/env bash
# Run once by the postgres image on an empty data directory: one role and one
# database per service (password = the service's name; for the laptop only).
set -euo pipefail
for svc in identity projects contributions notifications; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE ${svc} LOGIN PASSWORD '${svc}';
CREATE DATABASE ${svc} OWNER ${svc};
SQL
done
