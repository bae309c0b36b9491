#!/usr/bin/env bash
# Live-update benchmark (issue 10): SUBSCRIBERS (1000) WebSocket subscribers of
# `messagePosted` spread over TENANTS (10) tenants, a writer posting RATE (20) messages a
# second for DURATION (20) s. Prints delivery latency p50/p95/p99 (from the mutation's send,
# and from its answer, i.e. after commit, to receipt), deliveries per second, the server's
# RSS, and the statements per batch of events the server's hub logged. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

TENANTS=${TENANTS:-10}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
RATE=${RATE:-20}
DURATION=${DURATION:-20}
PORT=${PORT:-18082}
source bench/build.sh
WORK=$(mktemp -d /tmp/tenantry-live.XXXXXX)
[ -d tests/js/node_modules/ws ] || { echo "npm ci --prefix tests/js first (for ws)" >&2; exit 1; }

bench_build

if [ -n "${DATABASE_URL:-}" ]; then
  DB_URL="$DATABASE_URL"
else
  BASE=$("$BIN" database-url 2>/dev/null)
  DB="tenantry_bench_live_${TENANTS}"
  psql "$BASE" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
    || psql "$BASE" -qc "CREATE DATABASE $DB"
  DB_URL="${BASE% dbname=*} dbname=$DB"
fi
export DATABASE_URL="$DB_URL"

echo "== seeding $TENANTS tenants x 20 contacts"
"$BIN" seed --tenants "$TENANTS" --contacts 20 --conversations 1 --messages 1 --prefix live 2>/dev/null
: > "$WORK/tokens"
: > "$WORK/conversations"
for i in $(seq 1 "$TENANTS"); do
  slug=$(printf 'live-%04d' "$i")
  "$BIN" token --user "owner@$slug.test" --tenant "$slug" --ttl 2h 2>/dev/null >> "$WORK/tokens"
  id=$(psql "$DB_URL" -Atqc "SELECT v.id FROM conversations v JOIN tenants t ON t.id = v.tenant_id WHERE t.slug = '$slug' ORDER BY v.id LIMIT 1")
  python3 -c "import base64,sys; print(base64.urlsafe_b64encode(('Conversation:' + sys.argv[1]).encode()).decode().rstrip('='))" "$id" >> "$WORK/conversations"
done

echo "== starting the server"
ulimit -n 65536 2>/dev/null || true
RUST_LOG=info TENANTRY_LOG_FORMAT=json TENANTRY_MAX_SUBSCRIPTIONS_PER_CONNECTION=5 \
  "$BIN" serve --port "$PORT" > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
RSS_IDLE=$(awk '/VmRSS/{print $2}' "/proc/$SERVER/status")

echo "== $SUBSCRIBERS subscribers, $RATE messages/s for $DURATION s"
TOKENS_FILE="$WORK/tokens" CONVERSATIONS_FILE="$WORK/conversations" SUBSCRIBERS=$SUBSCRIBERS \
  RATE=$RATE DURATION=$DURATION \
  node bench/subscriptions.mjs "http://127.0.0.1:$PORT" | tee "$WORK/result.json"
RSS_PEAK=$(awk '/VmHWM/{print $2}' "/proc/$SERVER/status")
sleep 11 # the hub logs its work every 10 s
echo "server RSS: idle $((RSS_IDLE / 1024)) MB, peak $((RSS_PEAK / 1024)) MB"
grep '"live updates"' "$WORK/server.err" | tail -3 | python3 -c '
import json, sys
for line in sys.stdin:
    f = json.loads(line)["fields"]
    print("hub: %s subscriptions, %s batches, %s statements, %.2f statements per batch (last 10 s)"
          % (f["subscriptions"], f["batches"], f["statements"], f["statements_per_batch"]))
'
