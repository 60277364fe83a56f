#!/usr/bin/env bash
# Drops the per-test databases (moat_test_*) the API suite created on PostgreSQL.
set -euo pipefail
url=${1:-postgres://postgres@127.0.0.1:5432/postgres}
psql -q -At "$url" -c "SELECT datname FROM pg_database WHERE datname LIKE 'moat\_test\_%'" |
  while read -r db; do psql -q "$url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done
