#!/usr/bin/env bash
# Benchmark harness for the reference feed query (bench/queries/feed.graphql).
# See bench/README.md. Everything is measured side by side in one run:
#   1. the server under wrk (concurrency $CONCURRENCY, $DURATION s after a warm-up), and
#      unloaded (concurrency 1);
#   2. the raw-SQL ceiling: pgbench running the best hand-written single statement for the
#      same data, inside the server's transaction set-up, same client counts;
#   3. pgbench running the statements the server itself sends for that request.
# Prints req/s, p50/p95/p99, errors, the server's peak RSS and the ratios.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_build
bench_database
bench_tokens
CEILING_ARGS=() SERVER_ARGS=()
for k in $(seq 1 "$TOKEN_TENANTS"); do
  tid=${TIDS[k]} uid=${UIDS[k]} setup=${SETUPS[k]}
  sed "s/@TENANT@/$tid/" bench/sql/ceiling.sql.in > "$WORK/ceiling-$k.sql"
  CEILING_ARGS+=(-f "$WORK/ceiling-$k.sql")
  # The server's own statements for this request, with the ids it would bind.
  read -r contacts convs < <(psql "$DB_URL" -Atc "
    SET ROLE tenantry_app; SET app.tenant_id = '$tid';
    WITH c AS (SELECT id FROM contacts ORDER BY created_at, id LIMIT 50),
         v AS (SELECT x.id FROM c CROSS JOIN LATERAL (SELECT id FROM conversations x
                 WHERE x.contact_id = c.id ORDER BY created_at DESC, id DESC LIMIT 10) x)
    SELECT (SELECT string_agg(id::text, ',') FROM c), (SELECT string_agg(id::text, ',') FROM v)" | tail -1 | tr '|' ' ')
  cat > "$WORK/server-$k.sql" <<SQL
BEGIN READ ONLY;
$(echo "$setup" | tr ';' '\n' | sed '/^ *$/d; s/$/;/')
SELECT "contacts"."id", "contacts"."name", "contacts"."email", "contacts"."phone", "contacts"."company", "contacts"."tags", "contacts"."created_at", "contacts"."updated_at" FROM "contacts" WHERE ("contacts"."tenant_id" = '$tid') ORDER BY "contacts"."created_at" ASC, "contacts"."id" ASC LIMIT 51;
SELECT c.id, c.contact_id, c.subject, c.status, c.channel, c.assignee_id, c.last_message_at, c.created_at, c.updated_at FROM unnest('{$contacts}'::uuid[]) AS p(id) CROSS JOIN LATERAL (SELECT * FROM conversations x WHERE x.tenant_id = '$tid' AND x.contact_id = p.id ORDER BY x.created_at DESC, x.id DESC LIMIT 10) c;
SELECT m.id, m.conversation_id, m.direction, m.author_id, m.body, m.created_at FROM unnest('{$convs}'::uuid[]) AS p(id) CROSS JOIN LATERAL (SELECT * FROM messages x WHERE x.tenant_id = '$tid' AND x.conversation_id = p.id ORDER BY x.created_at DESC, x.id DESC LIMIT 3) m;
COMMIT;
SQL
  SERVER_ARGS+=(-f "$WORK/server-$k.sql")
done
python3 -c "import json,sys; print(json.dumps({'query': open('bench/queries/feed.graphql').read()}))" > "$WORK/body.json"

echo "== starting the server"
start_server
# One request must answer without errors before anything is timed.
curl -sf "http://127.0.0.1:$PORT/graphql" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $(head -1 "$WORK/tokens")" -d @"$WORK/body.json" > "$WORK/sample.json"
if grep -q '"errors"' "$WORK/sample.json"; then echo "the reference query failed:"; head -c 600 "$WORK/sample.json"; exit 1; fi
echo "   response: $(wc -c < "$WORK/sample.json") bytes"

export TOKENS_FILE="$WORK/tokens" BODY_FILE="$WORK/body.json"

declare -A RESULTS
for run in $(seq 1 "$RUNS"); do
  echo "== run $run/$RUNS"
  run_wrk "$CONCURRENCY" "$WARMUP" bench/feed.lua > /dev/null
  cpu_before=$(cpu_ms)
  RESULTS[server_$run]=$(run_wrk "$CONCURRENCY" "$DURATION" bench/feed.lua)
  RESULTS[cpu_$run]=$(awk -v a="$cpu_before" -v b="$(cpu_ms)" -v r="${RESULTS[server_$run]%% *}" \
    -v d="$DURATION" 'BEGIN{printf "%.3f", (b - a) / (r * d)}')
  RESULTS[ceiling_$run]=$(run_pgbench "$CONCURRENCY" "$DURATION" "${CEILING_ARGS[@]}")
  RESULTS[statements_$run]=$(run_pgbench "$CONCURRENCY" "$DURATION" "${SERVER_ARGS[@]}")
  RESULTS[server1_$run]=$(run_wrk 1 10 bench/feed.lua)
  RESULTS[ceiling1_$run]=$(run_pgbench 1 10 "${CEILING_ARGS[@]}")
  for k in server ceiling statements server1 ceiling1 cpu; do echo "   $k: ${RESULTS[${k}_$run]}"; done
done
RSS_KB=$(awk '/VmHWM/{print $2}' "/proc/$SERVER/status")

col() { # name column -> median over runs
  for run in $(seq 1 "$RUNS"); do echo "${RESULTS[${1}_$run]}" | awk -v c="$2" '{print $c}'; done | median
}
printf '\n%-34s %10s %9s %9s %9s %7s\n' "reference query (median of $RUNS)" "req/s" "p50 ms" "p95 ms" "p99 ms" "errors"
for k in "server:server c=$CONCURRENCY" "ceiling:raw-SQL ceiling c=$CONCURRENCY" "statements:server's statements c=$CONCURRENCY" "server1:server c=1" "ceiling1:raw-SQL ceiling c=1"; do
  key=${k%%:*} label=${k#*:}
  printf '%-34s %10.1f %9.2f %9.2f %9.2f %7d\n' "$label" "$(col "$key" 1)" "$(col "$key" 2)" "$(col "$key" 3)" "$(col "$key" 4)" "$(col "$key" 5)"
done
awk -v s="$(col server 1)" -v c="$(col ceiling 1)" -v t="$(col statements 1)" \
    -v s1="$(col server1 2)" -v c1="$(col ceiling1 2)" -v rss="$RSS_KB" \
    -v cpu="$(col cpu 1)" 'BEGIN {
  printf "\nthroughput server/ceiling          %.1f %%\n", 100 * s / c
  printf "throughput server statements/ceiling %.1f %%\n", 100 * t / c
  printf "throughput server/its statements   %.1f %%\n", 100 * s / t
  printf "unloaded p50 server - ceiling      %+.2f ms\n", s1 - c1
  printf "server peak RSS                    %.1f MB\n", rss / 1024
  printf "server CPU per request (c=%d)      %.3f ms\n", '"$CONCURRENCY"', cpu
}'
