#!/usr/bin/env bash
# `make run`: the API (with the demo tenant) and one MTA worker on this machine, plus a
# stand-in for the demo customer's mail server. Everything lives under ./data.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug
DATA=${MOAT_RUN_DATA:-$PWD/data}
mkdir -p "$DATA/mta"
export MOAT_DATABASE_URL=${MOAT_DATABASE_URL:-sqlite:$DATA/moat.db}
API_LISTEN=${MOAT_HTTP_LISTEN:-127.0.0.1:8080}
SMTP_LISTEN=${MOAT_SMTP_LISTEN:-127.0.0.1:2525}

if [ ! -s "$DATA/node.token" ]; then
  MOAT_DATA_DIR="$DATA" "$BIN/moat-api" node create --name "local-$(hostname)" | tail -n1 > "$DATA/node.token"
fi

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if python3 -c "import aiosmtpd" 2>/dev/null; then
  python3 infra/dev/demo-mailserver.py 2526 "$DATA/demo-inbox" & pids+=($!)
fi
# The demo customer's mail server runs on this machine, so loopback destinations are allowed.
MOAT_ALLOW_INTERNAL_DESTINATIONS=${MOAT_ALLOW_INTERNAL_DESTINATIONS:-true} \
  MOAT_DEMO_SEED=${MOAT_DEMO_SEED:-true} MOAT_DATA_DIR="$DATA" MOAT_HTTP_LISTEN="$API_LISTEN" \
  MOAT_SMTP_RELAY=${MOAT_SMTP_RELAY:-$SMTP_LISTEN} MOAT_SMTP_RELAY_TLS=${MOAT_SMTP_RELAY_TLS:-none} \
  MOAT_SYSTEM_MAIL_FROM=${MOAT_SYSTEM_MAIL_FROM:-no-reply@moat.localhost} "$BIN/moat-api" serve & pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://$API_LISTEN/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
MOAT_ALLOW_INTERNAL_DESTINATIONS=${MOAT_ALLOW_INTERNAL_DESTINATIONS:-true} \
  MOAT_API_URL="http://$API_LISTEN" MOAT_NODE_TOKEN="$(cat "$DATA/node.token")" MOAT_DATA_DIR="$DATA/mta" \
  MOAT_SMTP_LISTEN="$SMTP_LISTEN" "$BIN/moat-mta" run & pids+=($!)
sleep 1
cat <<TXT

Send a test message through Moat (delivered to the demo mail server, saved in $DATA/demo-inbox):
  swaks --server $SMTP_LISTEN --from someone@ext.test --to user@example.test --header "Subject: hello Moat"
Track it:  log in as admin@example.test and GET http://$API_LISTEN/api/v1/messages
Queue:     MOAT_DATA_DIR=$DATA/mta $BIN/moat-mta queue list
System mail (welcome, password reset) goes out through this worker (MOAT_SMTP_RELAY=$SMTP_LISTEN),
so mail to the demo users lands in $DATA/demo-inbox too.
Press Ctrl-C to stop.
TXT
wait -n "${pids[@]}"
