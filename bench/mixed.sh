#!/usr/bin/env bash
# Mixed-workload benchmark (see bench/README.md): the shapes users send — the feed, a
# contact's page, the inbox, node lookups, searchMessages, the app's start-up query, the
# members list, createContact and postMessage — against the same seed as run.sh, in one run:
#   1. the statements the server sends for each shape are captured once per tenant
#      (log_statement = all, one request at a time, after a first request compiled its
#      plan), parameters bound, as pgbench scripts;
#   2. each shape alone under wrk (concurrency $CONCURRENCY, $DURATION s) beside pgbench
#      replaying that shape's own statements (same transaction set-up, same clients);
#   3. the mix, every shape in fixed proportions ($MIX), interleaved, with the server's CPU.
# Prints req/s and p50/p95/p99 of each, the ratios, the mix's p95 and the server's peak RSS.
set -euo pipefail
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
source "$(dirname "$0")/lib.sh"
MIX=${MIX:-feed:5,contact:15,inbox:15,node:15,search:10,startup:10,members:10,create_contact:5,post_message:15}
READS="feed contact inbox node search startup members"
WRITES="create_contact post_message"
PG_LOG=${PG_LOG:-.tenantry/postgres.log}

bench_build
bench_database
bench_tokens
DB_NAME=${DB_URL##*dbname=}; DB_NAME=${DB_NAME%% *}

echo "== capturing each shape's statements"
psql "$DB_URL" -qc "ALTER DATABASE $DB_NAME SET log_statement = 'all'"
start_server
python3 bench/mixed.py requests "$WORK" "$PORT" "$WORK/tokens"
send() { # line of a .reqs file -> response on stdout
  local token=${1%%$'\t'*} body=${1#*$'\t'}
  curl -sf "http://127.0.0.1:$PORT/graphql" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" -d "$body"
}
declare -A REPLAY
for shape in $READS $WRITES; do
  REPLAY[$shape]=""
  k=0
  while IFS= read -r line; do
    k=$((k + 1))
    [ "$k" -gt "$TOKEN_TENANTS" ] && break
    send "$line" > /dev/null # compiles the plan, if the shape has one
    sleep 0.2
    start=$(stat -c %s "$PG_LOG")
    send "$line" > "$WORK/sample-$shape.json"
    sleep 0.3
    if grep -q '"errors"' "$WORK/sample-$shape.json"; then
      echo "$shape failed:"; head -c 600 "$WORK/sample-$shape.json"; exit 1
    fi
    python3 bench/mixed.py replay "$PG_LOG" "$start" "$(stat -c %s "$PG_LOG")" "$WORK/replay-$shape-$k.sql"
    REPLAY[$shape]+=" -f $WORK/replay-$shape-$k.sql"
  done < <(awk -F'\t' '!seen[$1]++' "$WORK/$shape.reqs") # one request per tenant
  echo "   $shape: $(wc -c < "$WORK/sample-$shape.json") bytes, $(grep -c . "$WORK/replay-$shape-1.sql") statements"
done
stop_server
trap - EXIT
psql "$DB_URL" -qc "ALTER DATABASE $DB_NAME RESET log_statement"

echo "== measuring"
start_server
export REQUESTS_DIR="$WORK"
for shape in $READS $WRITES; do # warm every plan
  SHAPES="$shape:1" run_wrk 2 1 bench/mixed.lua > /dev/null
done
declare -A R
for shape in $READS $WRITES; do
  R[server_$shape]=$(SHAPES="$shape:1" run_wrk "$CONCURRENCY" "$DURATION" bench/mixed.lua)
  cp "$WORK/wrk.out" "$WORK/wrk-$shape.out"
  # shellcheck disable=SC2086
  R[replay_$shape]=$(run_pgbench "$CONCURRENCY" "$DURATION" ${REPLAY[$shape]})
  echo "   $shape: server ${R[server_$shape]} | replay ${R[replay_$shape]}"
done
SHAPES="$MIX" run_wrk "$CONCURRENCY" "$WARMUP" bench/mixed.lua > /dev/null
cpu_before=$(cpu_ms)
R[mix]=$(SHAPES="$MIX" run_wrk "$CONCURRENCY" "$DURATION" bench/mixed.lua)
R[mix_cpu]=$(awk -v a="$cpu_before" -v b="$(cpu_ms)" -v r="${R[mix]%% *}" -v d="$DURATION" \
  'BEGIN{printf "%.3f", (b - a) / (r * d)}')
RSS_KB=$(awk '/VmHWM/{print $2}' "/proc/$SERVER/status")

printf '\n%-16s %9s %8s %8s %8s %6s | %9s %8s %8s %6s | %7s\n' shape "req/s" p50 p95 p99 errors \
  "replay/s" p50 p95 errors ratio
for shape in $READS $WRITES; do
  read -r s s50 s95 s99 se <<< "${R[server_$shape]}"
  read -r p p50 p95 _ pe <<< "${R[replay_$shape]}"
  printf '%-16s %9.1f %8.2f %8.2f %8.2f %6d | %9.1f %8.2f %8.2f %6d | %6.1f%%\n' \
    "$shape" "$s" "$s50" "$s95" "$s99" "$se" "$p" "$p50" "$p95" "$pe" "$(awk -v a="$s" -v b="$p" 'BEGIN{print 100 * a / b}')"
done
read -r m m50 m95 m99 me <<< "${R[mix]}"
printf '%-16s %9.1f %8.2f %8.2f %8.2f %6d |  (%s)\n' mix "$m" "$m50" "$m95" "$m99" "$me" "$MIX"
printf '\nmix: server CPU per request %s ms, p95 %s ms at c=%s; server peak RSS %.1f MB\n' \
  "${R[mix_cpu]}" "$m95" "$CONCURRENCY" "$(awk -v k="$RSS_KB" 'BEGIN{print k / 1024}')"
