#!/usr/bin/env bash
# Makes sure what the tests need is there, on this machine or a fresh Debian
# one: PostgreSQL and RabbitMQ running on localhost (installed from Debian's
# packages and started when missing), a `postgres` role with the password the
# tests use, cargo-nextest, and mold for faster links.
set -euo pipefail

log() { echo "test-services: $*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_updated=false
apt_install() {
    if ! $apt_updated; then
        as_root apt-get update -qq
        apt_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

port_open() { (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
    local port=$1 what=$2
    for _ in $(seq 1 120); do
        port_open "$port" && return 0
        sleep 1
    done
    log "$what did not open port $port"; exit 1
}

ensure_postgres() {
    if ! port_open 5432; then
        if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
            log "installing PostgreSQL"
            apt_install postgresql
        fi
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        log "starting PostgreSQL $version"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        wait_for_port 5432 PostgreSQL
    fi
    # A stock Debian PostgreSQL asks for a password on TCP and knows the
    # postgres role by peer authentication on its socket only: give the role
    # the password the tests use.
    if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
        log "setting the postgres role's password"
        as_root runuser -u postgres -- psql -q -c "ALTER ROLE postgres WITH LOGIN PASSWORD 'postgres'"
    fi
    PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null
    # Databases left by interrupted test runs.
    PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -tAc \
        "select datname from pg_database where datname like 'inspraak_test_%'" |
        while read -r stale; do
            [[ -n "$stale" ]] && PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$stale\" WITH (FORCE)" || true
        done
}

ensure_rabbitmq() {
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        log "installing RabbitMQ"
        apt_install rabbitmq-server
    fi
    if ! port_open 5672; then
        log "starting RabbitMQ"
        as_root rabbitmq-server -detached
        wait_for_port 5672 RabbitMQ
    fi
    as_root rabbitmqctl await_startup --timeout 120 >/dev/null
}

ensure_tools() {
    command -v psql >/dev/null 2>&1 || apt_install postgresql-client
    command -v mold >/dev/null 2>&1 || apt_install mold || log "mold unavailable; linking with the default linker"
    if ! cargo nextest --version >/dev/null 2>&1; then
        log "installing cargo-nextest"
        cargo install cargo-nextest --locked
    fi
}

ensure_tools
ensure_postgres
ensure_rabbitmq
log "PostgreSQL and RabbitMQ are up"
