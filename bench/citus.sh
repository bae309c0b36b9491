#!/usr/bin/env bash
# The reference feed (bench/queries/feed.graphql) on the single node and on the local Citus
# cluster (a coordinator and two workers: `tenantry dev citus up`), same seed, one run:
# throughput and latency under wrk at $CONCURRENCY and unloaded, and on Citus the share of
# statements Citus ran on one shard (its `citus_stat_counters`: single-shard against
# multi-shard executions, over the timed requests only). The Citus server also runs with
# TENANTRY_CITUS_REFUSE_FAN_OUT=on, so a statement that would touch several nodes fails its
# request and shows as an error. All nodes share this machine: the figure is Citus's
# overhead, not its gain (bench/README.md, "Tenantry on Citus").
set -euo pipefail
TENANTS=${TENANTS:-20}
source "$(dirname "$0")/lib.sh"

bench_build
python3 -c "import json,sys; print(json.dumps({'query': open('bench/queries/feed.graphql').read()}))" > "$WORK/body.json"
export TOKENS_FILE="$WORK/tokens" BODY_FILE="$WORK/body.json"

# One target: seeds it (existing tenants are kept), starts the server on it, times the feed.
# Prints "label rps p50 p95 p99 errors | c=1: rps p50 p95 p99 errors".
measure() {
  local label=$1
  bench_database > /dev/null
  bench_tokens
  start_server
  curl -sf "http://127.0.0.1:$PORT/graphql" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $(head -1 "$WORK/tokens")" -d @"$WORK/body.json" > "$WORK/sample.json"
  if grep -q '"errors"' "$WORK/sample.json"; then
    echo "the reference query failed on $label:" >&2; head -c 600 "$WORK/sample.json" >&2; exit 1
  fi
  run_wrk "$CONCURRENCY" "$WARMUP" bench/feed.lua > /dev/null
  [ -n "${COUNTERS:-}" ] && psql "$DB_URL" -Atqc "SELECT citus_stat_counters_reset(oid) FROM pg_database WHERE datname = current_database()" > /dev/null
  local loaded unloaded
  loaded=$(run_wrk "$CONCURRENCY" "$DURATION" bench/feed.lua)
  unloaded=$(run_wrk 1 10 bench/feed.lua)
  if [ -n "${COUNTERS:-}" ]; then
    psql "$DB_URL" -Atc "SELECT query_execution_single_shard, query_execution_multi_shard
                           FROM citus_stat_counters WHERE name = current_database()" | tr '|' ' ' > "$WORK/counters"
  fi
  stop_server
  trap - EXIT
  echo "$label $loaded | $unloaded"
}

echo "== single node (the private cluster)"
unset DATABASE_URL
SINGLE=$(measure single)
echo "   $SINGLE"

echo "== Citus (coordinator and two workers on this machine)"
CITUS_URL=$("$BIN" dev citus up 2>/dev/null | tail -1)
psql "$CITUS_URL" -qc "ALTER DATABASE $(psql "$CITUS_URL" -Atc 'SELECT current_database()') SET citus.enable_stat_counters = on" > /dev/null
export DATABASE_URL="$CITUS_URL" TENANTRY_CITUS_REFUSE_FAN_OUT=on COUNTERS=1
CITUS=$(measure citus)
unset TENANTRY_CITUS_REFUSE_FAN_OUT COUNTERS
echo "   $CITUS"
read -r single multi < "$WORK/counters"

printf '\n%-30s %10s %9s %9s %9s %7s\n' "feed, $TENANTS tenants seeded" "req/s" "p50 ms" "p95 ms" "p99 ms" "errors"
for line in "$SINGLE" "$CITUS"; do
  read -r label r a b c e _ r1 a1 b1 c1 e1 <<< "$line"
  printf '%-30s %10.1f %9.2f %9.2f %9.2f %7d\n' "$label c=$CONCURRENCY" "$r" "$a" "$b" "$c" "$e"
  printf '%-30s %10.1f %9.2f %9.2f %9.2f %7d\n' "$label c=1" "$r1" "$a1" "$b1" "$c1" "$e1"
done
awk -v s="$(echo "$SINGLE" | awk '{print $2}')" -v c="$(echo "$CITUS" | awk '{print $2}')" \
    -v one="$single" -v many="$multi" 'BEGIN {
  printf "\nthroughput Citus/single node          %.1f %%\n", 100 * c / s
  printf "statements on one shard (Citus)       %d of %d: %.2f %%\n", one, one + many, 100 * one / (one + many)
}'
