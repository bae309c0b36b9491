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
cd "$(dirname "$0")/.."

TENANTS=${TENANTS:-100}
CONTACTS=${CONTACTS:-1000}
CONVERSATIONS=${CONVERSATIONS:-3}
MESSAGES=${MESSAGES:-5}
CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
RUNS=${RUNS:-1}
TOKEN_TENANTS=${TOKEN_TENANTS:-8}
PORT=${PORT:-18080}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
BIN="$CARGO_TARGET_DIR/release/tenantry"
WORK=$(mktemp -d /tmp/tenantry-bench.XXXXXX)
chmod 755 "$WORK"

PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1)
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -x "$PGBENCH" ] || { echo "pgbench is missing (PostgreSQL server package)" >&2; exit 1; }

echo "== building release"
cargo build --release --quiet

# The bench database: DATABASE_URL if set, else one database per seed size in the
# private cluster (kept between runs; the seed skips tenants that exist).
if [ -n "${DATABASE_URL:-}" ]; then
  DB_URL="$DATABASE_URL"
else
  BASE=$("$BIN" database-url 2>/dev/null)
  DB="tenantry_bench_${TENANTS}_${CONTACTS}_${CONVERSATIONS}_${MESSAGES}"
  psql "$BASE" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
    || psql "$BASE" -qc "CREATE DATABASE $DB"
  DB_URL="${BASE% dbname=*} dbname=$DB"
fi
export DATABASE_URL="$DB_URL"

echo "== seeding $TENANTS x $CONTACTS x $CONVERSATIONS x $MESSAGES"
"$BIN" seed --tenants "$TENANTS" --contacts "$CONTACTS" --conversations "$CONVERSATIONS" \
  --messages "$MESSAGES" --prefix bench 2>/dev/null
# Benchmark tenants are enterprise: no request-rate limit (databases seeded before seeds
# took --plan are moved too).
psql "$DB_URL" -qc "UPDATE tenants SET plan = 'enterprise' WHERE slug LIKE 'bench-%' AND plan <> 'enterprise'" >/dev/null
psql "$DB_URL" -qc "VACUUM ANALYZE" >/dev/null

# Tokens and per-tenant pgbench scripts for $TOKEN_TENANTS tenants spread over the seed.
: > "$WORK/tokens"
CEILING_ARGS=() SERVER_ARGS=()
for k in $(seq 1 "$TOKEN_TENANTS"); do
  n=$(( (k - 1) * TENANTS / TOKEN_TENANTS + 1 ))
  slug=$(printf 'bench-%04d' "$n")
  "$BIN" token --user "owner@$slug.test" --tenant "$slug" --ttl 2h 2>/dev/null >> "$WORK/tokens"
  tid=$(psql "$DB_URL" -Atc "SELECT id FROM tenants WHERE slug = '$slug'")
  uid=$(psql "$DB_URL" -Atc "SELECT id FROM users WHERE email = 'owner@$slug.test'")
  sed "s/@TENANT@/$tid/" bench/sql/ceiling.sql.in > "$WORK/ceiling-$k.sql"
  CEILING_ARGS+=(-f "$WORK/ceiling-$k.sql")
  # The server's own statements for this request, with the ids it would bind.
  setup="SET LOCAL ROLE tenantry_app; SET LOCAL statement_timeout = 5000; SET LOCAL app.tenant_id = '$tid'; SET LOCAL app.user_id = '$uid'; SET LOCAL app.role = 'OWNER';"
  read -r contacts convs < <(psql "$DB_URL" -Atc "
    SET ROLE tenantry_app; SET app.tenant_id = '$tid';
    WITH c AS (SELECT id FROM contacts ORDER BY created_at, id LIMIT 50),
         v AS (SELECT x.id FROM c CROSS JOIN LATERAL (SELECT id FROM conversations x
                 WHERE x.contact_id = c.id ORDER BY created_at DESC, id DESC LIMIT 11) x)
    SELECT (SELECT string_agg(id::text, ',') FROM c), (SELECT string_agg(id::text, ',') FROM v)" | tail -1 | tr '|' ' ')
  cat > "$WORK/server-$k.sql" <<SQL
BEGIN READ ONLY;
$(echo "$setup" | tr ';' '\n' | sed '/^ *$/d; s/$/;/')
SELECT "contacts"."id", "contacts"."name", "contacts"."email", "contacts"."phone", "contacts"."company", "contacts"."tags", "contacts"."created_at", "contacts"."updated_at" FROM "contacts" ORDER BY "contacts"."created_at" ASC, "contacts"."id" ASC LIMIT 51;
SELECT c.id, c.contact_id, c.subject, c.status, c.channel, c.assignee_id, c.last_message_at, c.created_at, c.updated_at FROM unnest('{$contacts}'::uuid[]) AS p(id) CROSS JOIN LATERAL (SELECT * FROM conversations x WHERE x.contact_id = p.id ORDER BY x.created_at DESC, x.id DESC LIMIT 11) c;
SELECT m.id, m.conversation_id, m.direction, m.author_id, m.body, m.created_at FROM unnest('{$convs}'::uuid[]) AS p(id) CROSS JOIN LATERAL (SELECT * FROM messages x WHERE x.conversation_id = p.id ORDER BY x.created_at DESC, x.id DESC LIMIT 4) m;
COMMIT;
SQL
  SERVER_ARGS+=(-f "$WORK/server-$k.sql")
done
python3 -c "import json,sys; print(json.dumps({'query': open('bench/queries/feed.graphql').read()}))" > "$WORK/body.json"

echo "== starting the server"
RUST_LOG=warn "$BIN" serve --port "$PORT" > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
# One request must answer without errors before anything is timed.
curl -sf "http://127.0.0.1:$PORT/graphql" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $(head -1 "$WORK/tokens")" -d @"$WORK/body.json" > "$WORK/sample.json"
if grep -q '"errors"' "$WORK/sample.json"; then echo "the reference query failed:"; head -c 600 "$WORK/sample.json"; exit 1; fi
echo "   response: $(wc -c < "$WORK/sample.json") bytes"

export TOKENS_FILE="$WORK/tokens" BODY_FILE="$WORK/body.json"
run_wrk() { # concurrency duration -> "rps p50 p95 p99 errors"
  local threads=$(( $1 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$1" -d"$2"s -s bench/feed.lua --latency "http://127.0.0.1:$PORT/graphql" > "$WORK/wrk.out"
  awk '/^RPS/{r=$2} /^LATENCY_P50/{a=$2} /^LATENCY_P95/{b=$2} /^LATENCY_P99/{c=$2}
       /^GRAPHQL_ERRORS/{e+=$2} /^SOCKET_ERRORS/{e+=$2} /^NON2XX/{n=$2}
       END{print r, a, b, c, e+0}' "$WORK/wrk.out"
}
run_pgbench() { # concurrency duration args... -> "tps p50 p95 p99 errors"
  local c=$1 d=$2; shift 2
  rm -f "$WORK"/pgbench_log.*
  (cd "$WORK" && "$PGBENCH" -n -M prepared -c "$c" -j 2 -T "$d" -l "$@" "$DB_URL" > pgbench.out 2>&1) || true
  local tps errs
  tps=$(awk '/^tps =/{print $3}' "$WORK/pgbench.out")
  errs=$(awk '/^number of failed transactions/{print $5; exit}' "$WORK/pgbench.out"); errs=${errs:-0}
  # Per-transaction log: field 3 is the latency in microseconds.
  cat "$WORK"/pgbench_log.* | awk '{print $3/1000}' | sort -n > "$WORK/lat"
  local n; n=$(wc -l < "$WORK/lat")
  pct() { sed -n "$(( ($1 * n + 99) / 100 ))p" "$WORK/lat"; }
  echo "$tps $(pct 50) $(pct 95) $(pct 99) $errs"
}
cpu_ms() { # the server's CPU time so far (user + system), in ms
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$SERVER/stat"
}
median() { sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A RESULTS
for run in $(seq 1 "$RUNS"); do
  echo "== run $run/$RUNS"
  run_wrk "$CONCURRENCY" "$WARMUP" > /dev/null
  cpu_before=$(cpu_ms)
  RESULTS[server_$run]=$(run_wrk "$CONCURRENCY" "$DURATION")
  RESULTS[cpu_$run]=$(awk -v a="$cpu_before" -v b="$(cpu_ms)" -v r="${RESULTS[server_$run]%% *}" \
    -v d="$DURATION" 'BEGIN{printf "%.3f", (b - a) / (r * d)}')
  RESULTS[ceiling_$run]=$(run_pgbench "$CONCURRENCY" "$DURATION" "${CEILING_ARGS[@]}")
  RESULTS[statements_$run]=$(run_pgbench "$CONCURRENCY" "$DURATION" "${SERVER_ARGS[@]}")
  RESULTS[server1_$run]=$(run_wrk 1 10)
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
