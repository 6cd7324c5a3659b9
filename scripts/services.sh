#!/usr/bin/env bash
# Install (Debian packages) and start the real services the tests use, on loopback.
# Source it: it exports TOOLKEEPER_TEST_POSTGRES and TOOLKEEPER_TEST_REDIS.
# Idempotent: a service already answering on its port is left as it is.
# Installing packages needs root, or sudo (used when not root); starting PostgreSQL needs root.
# `scripts/services.sh stop` stops the services this script started (listed in
# $TK_SERVICES_DIR/started), and nothing else.
set -euo pipefail

TK_PG_PORT="${TK_PG_PORT:-54329}"
TK_REDIS_PORT="${TK_REDIS_PORT:-63799}"
TK_ALERTMANAGER_PORT="${TK_ALERTMANAGER_PORT:-59093}"
TK_SERVICES_DIR="${TK_SERVICES_DIR:-/tmp/toolkeeper-services}"

TK_STARTED="$TK_SERVICES_DIR/started"

if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = "stop" ]; then
  if [ ! -f "$TK_STARTED" ]; then
    echo "services: nothing to stop (this script started no service: $TK_STARTED is absent)" >&2
    exit 0
  fi
  while read -r name detail; do
    case "$name" in
      postgres) runuser -u postgres -- "$detail/pg_ctl" -D "$TK_SERVICES_DIR/pg" -m fast -w stop >/dev/null \
                  && echo "services: stopped postgres" >&2 || true ;;
      redis) redis-cli -h 127.0.0.1 -p "$detail" shutdown nosave >/dev/null 2>&1 || true
             echo "services: stopped redis" >&2 ;;
      alertmanager) if kill "$detail" 2>/dev/null; then
                      for _ in $(seq 100); do kill -0 "$detail" 2>/dev/null || break; sleep 0.1; done
                      echo "services: stopped alertmanager" >&2
                    fi ;;
    esac
  done < "$TK_STARTED"
  rm -f "$TK_STARTED"
  exit 0
fi

need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)  # promtool and a real Prometheus
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v curl >/dev/null 2>&1 || need+=(curl)  # the services' readiness checks
if [ "${#need[@]}" -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      echo "services: installing ${need[*]} with apt-get needs root: asking sudo" >&2
      as_root=(sudo)
    else
      echo "services: ${need[*]} must be installed with apt-get, which needs root: run this" \
        "as root, with sudo available, or install them first" >&2
      return 1 2>/dev/null || exit 1
    fi
  fi
  echo "services: installing ${need[*]}" >&2
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$TK_SERVICES_DIR"

# PostgreSQL: a private cluster owned by the postgres user, trust auth on 127.0.0.1 only.
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_DATA="$TK_SERVICES_DIR/pg"
if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$TK_PG_PORT"; then
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    rm -rf "$PG_DATA"; mkdir -p "$PG_DATA"; chown postgres:postgres "$PG_DATA"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  chown -R postgres:postgres "$PG_DATA"
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w \
    -o "-h 127.0.0.1 -p $TK_PG_PORT -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
  echo "postgres $PG_BIN" >> "$TK_STARTED"
fi
export TOOLKEEPER_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$TK_PG_PORT/postgres"

# Redis: no persistence, loopback only.
if ! redis-cli -h 127.0.0.1 -p "$TK_REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$TK_REDIS_PORT" --save '' --appendonly no \
    --daemonize yes --logfile "$TK_SERVICES_DIR/redis.log" --dir "$TK_SERVICES_DIR"
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$TK_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "redis $TK_REDIS_PORT" >> "$TK_STARTED"
fi
export TOOLKEEPER_TEST_REDIS="redis://127.0.0.1:$TK_REDIS_PORT/0"

# Prometheus Alertmanager (alert forwarding): loopback, no clustering, a receiver that sends nothing.
AM_DIR="$TK_SERVICES_DIR/alertmanager"
if ! curl -sf "http://127.0.0.1:$TK_ALERTMANAGER_PORT/-/ready" >/dev/null 2>&1; then
  mkdir -p "$AM_DIR/data"
  printf 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n' > "$AM_DIR/alertmanager.yml"
  nohup prometheus-alertmanager --config.file="$AM_DIR/alertmanager.yml" \
    --storage.path="$AM_DIR/data" --web.listen-address="127.0.0.1:$TK_ALERTMANAGER_PORT" \
    --cluster.listen-address="" >"$AM_DIR/alertmanager.log" 2>&1 &
  echo "alertmanager $!" >> "$TK_STARTED"
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$TK_ALERTMANAGER_PORT/-/ready" >/dev/null 2>&1 && break; sleep 0.1
  done
fi
export TOOLKEEPER_TEST_ALERTMANAGER="http://127.0.0.1:$TK_ALERTMANAGER_PORT"
echo "services: postgres $TOOLKEEPER_TEST_POSTGRES, redis $TOOLKEEPER_TEST_REDIS," \
  "alertmanager $TOOLKEEPER_TEST_ALERTMANAGER" >&2
