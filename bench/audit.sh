#!/usr/bin/env bash
# Audit-log benchmark (issue 11), side by side in one run:
#   1. write overhead: createContact mutations under wrk with the audit triggers on and off,
#      alternating for $ROUNDS rounds (same server, same database; ALTER TABLE … DISABLE
#      TRIGGER audit between phases), reported as median mutations/s and the overhead ratio;
#   2. reads at a million entries: one tenant gets $ENTRIES audit entries (written by the
#      triggers themselves, set-based), then auditLog pages (newest, by table, by row, by
#      actor, deep after a cursor) under wrk, and `tenantry audit verify` of that chain.
# See bench/README.md. Needs wrk, psql, curl, python3 and the PostgreSQL server package.
set -euo pipefail
cd "$(dirname "$0")/.."

TENANTS=${TENANTS:-8}
CONCURRENCY=${CONCURRENCY:-16}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
ENTRIES=${ENTRIES:-1000000}
PORT=${PORT:-18081}
source bench/build.sh
WORK=$(mktemp -d /tmp/tenantry-audit-bench.XXXXXX)
chmod 755 "$WORK"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

bench_build

# A fresh database each run (the write phases add contacts).
if [ -n "${DATABASE_URL:-}" ]; then
  DB_URL="$DATABASE_URL"
else
  BASE=$("$BIN" database-url 2>/dev/null)
  DB="tenantry_bench_audit"
  psql "$BASE" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB"
  DB_URL="${BASE% dbname=*} dbname=$DB"
fi
export DATABASE_URL="$DB_URL"
echo "== seeding $TENANTS tenants"
"$BIN" seed --tenants "$TENANTS" --contacts 100 --conversations 1 --messages 1 --prefix bench 2>/dev/null

: > "$WORK/tokens"
for n in $(seq 1 "$TENANTS"); do
  slug=$(printf 'bench-%04d' "$n")
  "$BIN" token --user "owner@$slug.test" --tenant "$slug" --ttl 2h 2>/dev/null >> "$WORK/tokens"
done
python3 -c "import json; print(json.dumps({'query': 'mutation { createContact(input: {name: \"Bench contact\", tags: [\"bench\"]}) { id } }'}))" > "$WORK/mutation.json"

echo "== starting the server"
RUST_LOG=warn "$BIN" serve --port "$PORT" > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

run_wrk() { # tokens body concurrency duration -> "rps p50 p95 p99 errors"
  local threads=$(( $3 < 2 ? 1 : 2 ))
  TOKENS_FILE="$1" BODY_FILE="$2" wrk -t"$threads" -c"$3" -d"$4"s -s bench/feed.lua --latency \
    "http://127.0.0.1:$PORT/graphql" > "$WORK/wrk.out"
  awk '/^RPS/{r=$2} /^LATENCY_P50/{a=$2} /^LATENCY_P95/{b=$2} /^LATENCY_P99/{c=$2}
       /^GRAPHQL_ERRORS/{e+=$2} /^SOCKET_ERRORS/{e+=$2}
       END{print r, a, b, c, e+0}' "$WORK/wrk.out"
}
triggers() { # ENABLE | DISABLE the audit trigger of every table that has one
  psql "$DB_URL" -Atqc "SELECT format('ALTER TABLE %s $1 TRIGGER audit;', tgrelid::regclass)
                          FROM pg_trigger WHERE tgname = 'audit'" | psql "$DB_URL" -q
}

echo "== write overhead: createContact, c=$CONCURRENCY, $ROUNDS rounds of ${DURATION}s on, ${DURATION}s off"
# Alternating phases, so drift (other load on the machine, the tables growing) hits both.
run_wrk "$WORK/tokens" "$WORK/mutation.json" "$CONCURRENCY" "$WARMUP" > /dev/null
ON=() OFF=()
for r in $(seq 1 "$ROUNDS"); do
  ON+=("$(run_wrk "$WORK/tokens" "$WORK/mutation.json" "$CONCURRENCY" "$DURATION")"); echo "   on:  ${ON[-1]}"
  triggers DISABLE
  OFF+=("$(run_wrk "$WORK/tokens" "$WORK/mutation.json" "$CONCURRENCY" "$DURATION")"); echo "   off: ${OFF[-1]}"
  triggers ENABLE
done
median_col() { # column values... -> median of that column
  local c=$1; shift
  printf '%s\n' "$@" | awk -v c="$c" '{print $c}' | sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}

echo "== $ENTRIES audit entries for bench-0001"
TID=$(psql "$DB_URL" -Atc "SELECT id FROM tenants WHERE slug = 'bench-0001'")
UID_=$(psql "$DB_URL" -Atc "SELECT id FROM users WHERE email = 'owner@bench-0001.test'")
START=$(date +%s.%N)
# In transactions of $BATCH rows, as an import would write them (the chain head's row
# versions of one transaction cannot be pruned before it ends).
BATCH=${BATCH:-20000}
for from in $(seq 1 "$BATCH" "$ENTRIES"); do
  to=$(( from + BATCH - 1 < ENTRIES ? from + BATCH - 1 : ENTRIES ))
  psql "$DB_URL" -q <<SQL
BEGIN;
SET LOCAL app.tenant_id = '$TID'; SET LOCAL app.user_id = '$UID_';
INSERT INTO contacts (tenant_id, id, name, company)
SELECT '$TID', app.uuid_v7(now(), 'audit-bench-' || g), 'Audit bench ' || g, 'Company ' || (g % 100)
  FROM generate_series($from, $to) g;
COMMIT;
SQL
done
psql "$DB_URL" -qc "VACUUM ANALYZE audit_log" -qc "VACUUM ANALYZE audit_heads"
FILL=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e - s}')
TOTAL=$(psql "$DB_URL" -Atc "SELECT count(*) FROM audit_log WHERE tenant_id = '$TID'")
echo "   $TOTAL entries in the chain (filled in ${FILL}s)"
head -1 "$WORK/tokens" > "$WORK/token1"
ROW=$(psql "$DB_URL" -Atc "SET app.tenant_id = '$TID'; SELECT row_id FROM audit_log WHERE tenant_id = '$TID' ORDER BY seq LIMIT 1 OFFSET $((ENTRIES / 2))" | tail -1)
MID=$(psql "$DB_URL" -Atc "SET app.tenant_id = '$TID'; SELECT (extract(epoch FROM occurred_at) * 1000000)::bigint || ':' || seq FROM audit_log WHERE tenant_id = '$TID' ORDER BY seq LIMIT 1 OFFSET $((ENTRIES / 2))" | tail -1)
CURSOR=$(python3 -c "import base64,sys; print(base64.urlsafe_b64encode(b'a1:$MID').decode().rstrip('='))")
FIELDS='edges { cursor node { seq occurredAt actorType actorId requestId action table rowId oldValues newValues hash } } pageInfo { hasNextPage endCursor }'
declare -A READS=(
  [newest]="{ auditLog(first: 50) { $FIELDS } }"
  [by_table]="{ auditLog(first: 50, filter: {table: \"contacts\", action: INSERT}) { $FIELDS } }"
  [by_row]="{ auditLog(first: 50, filter: {rowId: \"$ROW\"}) { $FIELDS } }"
  [by_actor]="{ auditLog(first: 50, filter: {actor: \"$UID_\"}) { $FIELDS } }"
  [deep_page]="{ auditLog(first: 50, after: \"$CURSOR\") { $FIELDS } }"
  [since_hour]="{ auditLog(first: 50, filter: {since: \"$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%SZ)\"}) { $FIELDS } }"
)
echo "== auditLog at $TOTAL entries, c=$CONCURRENCY, ${DURATION}s each"
declare -A READ_RESULTS
for k in newest by_table by_row by_actor deep_page since_hour; do
  python3 -c "import json,sys; print(json.dumps({'query': sys.argv[1]}))" "${READS[$k]}" > "$WORK/read.json"
  curl -sf "http://127.0.0.1:$PORT/graphql" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $(cat "$WORK/token1")" -d @"$WORK/read.json" > "$WORK/sample.json"
  if grep -q '"errors"' "$WORK/sample.json"; then echo "$k failed:"; head -c 400 "$WORK/sample.json"; exit 1; fi
  READ_RESULTS[$k]=$(run_wrk "$WORK/token1" "$WORK/read.json" "$CONCURRENCY" "$DURATION")
  echo "   $k: ${READ_RESULTS[$k]}"
done

START=$(date +%s.%N)
"$BIN" audit verify --tenant bench-0001 2>/dev/null
VERIFY=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e - s}')

printf '\n%-36s %10s %9s %9s %9s %7s\n' "createContact c=$CONCURRENCY (median)" "mut/s" "p50 ms" "p95 ms" "p99 ms" "errors"
printf '%-36s %10.1f %9.2f %9.2f %9.2f %7d\n' "triggers on" $(for c in 1 2 3 4 5; do median_col $c "${ON[@]}"; done)
printf '%-36s %10.1f %9.2f %9.2f %9.2f %7d\n' "triggers off" $(for c in 1 2 3 4 5; do median_col $c "${OFF[@]}"; done)
awk -v on="$(median_col 1 "${ON[@]}")" -v off="$(median_col 1 "${OFF[@]}")" 'BEGIN {
  printf "\nwrite overhead of auditing (1 - on/off, medians of %d rounds) %.1f %%\n", '"$ROUNDS"', 100 * (1 - on / off)
}'
printf '\n%-36s %10s %9s %9s %9s %7s\n' "auditLog(first: 50) at $TOTAL" "req/s" "p50 ms" "p95 ms" "p99 ms" "errors"
for k in newest by_table by_row by_actor deep_page since_hour; do
  printf '%-36s %10.1f %9.2f %9.2f %9.2f %7d\n' "$k" ${READ_RESULTS[$k]}
done
echo "audit verify of $TOTAL entries: ${VERIFY}s; filling them through the trigger: ${FILL}s"
