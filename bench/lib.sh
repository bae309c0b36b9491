#!/usr/bin/env bash
# Shared set-up of the bench scripts (sourced by run.sh, mixed.sh and citus.sh): the build
# (build.sh), the seeded bench database, tokens of several tenants, the server, and the wrk
# and pgbench runners. Each caller sets its own defaults first; these are the common ones.
cd "$(dirname "${BASH_SOURCE[0]}")/.."

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
# The server's worker threads: half the CPUs (at least one). PostgreSQL, wrk and pgbench
# share this machine with the server, and on the 2-core bench machine one worker used
# 5-18 % less CPU per feed request than two in interleaved pairs (bench/README.md). Set
# TENANTRY_WORKER_THREADS to measure another count.
NPROC=$(nproc)
export TENANTRY_WORKER_THREADS=${TENANTRY_WORKER_THREADS:-$(( NPROC / 2 > 0 ? NPROC / 2 : 1 ))}
# The same through tokio's own variable, which builds from before the setting also read.
export TOKIO_WORKER_THREADS=$TENANTRY_WORKER_THREADS
source bench/build.sh
WORK=$(mktemp -d /tmp/tenantry-bench.XXXXXX)
chmod 755 "$WORK"

PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1)
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -x "$PGBENCH" ] || { echo "pgbench is missing (PostgreSQL server package)" >&2; exit 1; }

# Sets DB_URL (and DATABASE_URL) to the bench database, seeded: DATABASE_URL if set, else
# one database per seed size in the private cluster (kept between runs; the seed skips
# tenants that exist).
bench_database() {
  if [ -n "${DATABASE_URL:-}" ]; then
    DB_URL="$DATABASE_URL"
  else
    local base db
    base=$("$BIN" database-url 2>/dev/null)
    db="tenantry_bench_${TENANTS}_${CONTACTS}_${CONVERSATIONS}_${MESSAGES}"
    psql "$base" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
      || psql "$base" -qc "CREATE DATABASE $db"
    DB_URL="${base% dbname=*} dbname=$db"
  fi
  export DATABASE_URL="$DB_URL"
  echo "== seeding $TENANTS x $CONTACTS x $CONVERSATIONS x $MESSAGES"
  "$BIN" seed --tenants "$TENANTS" --contacts "$CONTACTS" --conversations "$CONVERSATIONS" \
    --messages "$MESSAGES" --prefix bench 2>/dev/null
  # Benchmark tenants are enterprise: no request-rate limit (databases seeded before seeds
  # took --plan are moved too).
  psql "$DB_URL" -qc "UPDATE tenants SET plan = 'enterprise' WHERE slug LIKE 'bench-%' AND plan <> 'enterprise'" >/dev/null
  psql "$DB_URL" -qc "VACUUM ANALYZE" >/dev/null
}

# For $TOKEN_TENANTS tenants spread over the seed: the owner's token (in $WORK/tokens, one a
# line), and in SLUGS, TIDS, UIDS and SETUPS (1-based) the slug, tenant id, user id and
# the server's transaction set-up as SQL.
bench_tokens() {
  : > "$WORK/tokens"
  SLUGS=() TIDS=() UIDS=() SETUPS=()
  local k n slug
  for k in $(seq 1 "$TOKEN_TENANTS"); do
    n=$(( (k - 1) * TENANTS / TOKEN_TENANTS + 1 ))
    slug=$(printf 'bench-%04d' "$n")
    "$BIN" token --user "owner@$slug.test" --tenant "$slug" --ttl 2h 2>/dev/null >> "$WORK/tokens"
    SLUGS[k]=$slug
    TIDS[k]=$(psql "$DB_URL" -Atc "SELECT id FROM tenants WHERE slug = '$slug'")
    UIDS[k]=$(psql "$DB_URL" -Atc "SELECT id FROM users WHERE email = 'owner@$slug.test'")
    SETUPS[k]="SET LOCAL ROLE tenantry_app; SET LOCAL statement_timeout = 5000; SET LOCAL app.tenant_id = '${TIDS[k]}'; SET LOCAL app.user_id = '${UIDS[k]}'; SET LOCAL app.role = 'OWNER';"
  done
}

# Starts the server (SERVER is its pid) and waits until it is ready; stopped on exit.
start_server() {
  echo "   server: $TENANTRY_WORKER_THREADS worker thread(s) (TENANTRY_WORKER_THREADS)"
  RUST_LOG=${RUST_LOG:-warn} "$BIN" serve --port "$PORT" > "$WORK/server.out" 2> "$WORK/server.err" &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
}

# Stops the server started by start_server.
stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}

# wrk: concurrency duration script -> "rps p50 p95 p99 errors" (the script prints them);
# wrk's own output stays in $WORK/wrk.out.
run_wrk() {
  local threads=$(( $1 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$1" -d"$2"s -s "$3" --latency "http://127.0.0.1:$PORT/graphql" > "$WORK/wrk.out" 2>&1 || true
  awk '/^RPS/{r=$2} /^LATENCY_P50/{a=$2} /^LATENCY_P95/{b=$2} /^LATENCY_P99/{c=$2}
       /^GRAPHQL_ERRORS/{e+=$2} /^SOCKET_ERRORS/{e+=$2} /^NON2XX/{n=$2}
       END{print r, a, b, c, e+0}' "$WORK/wrk.out"
}

# pgbench: concurrency duration args... -> "tps p50 p95 p99 errors"
run_pgbench() {
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
  echo "${tps:-0} $(pct 50) $(pct 95) $(pct 99) $errs"
}

# The server's CPU time so far (user + system), in ms.
cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$SERVER/stat"
}

median() { sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
