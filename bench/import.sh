#!/usr/bin/env bash
# Import benchmark (issue 13): one tenant of $CONTACTS contacts, each with $CONVERSATIONS
# conversations of $MESSAGES messages, exported, imported into a fresh database, and cloned,
# side by side in one run with the raw-SQL replay: psql COPYing the same rows straight into
# the same tables (same indexes and triggers, one transaction, rolled back) — what an import
# cannot beat. Prints seconds, rows/s, the archive's size, peak RSS and the ratios.
# See bench/README.md. Needs psql and the PostgreSQL server package.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTACTS=${CONTACTS:-100000}
CONVERSATIONS=${CONVERSATIONS:-2}
MESSAGES=${MESSAGES:-3}
RUNS=${RUNS:-1}
source bench/build.sh
WORK=$(mktemp -d /tmp/tenantry-import-bench.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

bench_build

BASE=$("$BIN" database-url 2>/dev/null)
SERVER="${BASE% dbname=*}"
SRC_DB="tenantry_bench_import_${CONTACTS}_${CONVERSATIONS}_${MESSAGES}"
psql "$BASE" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$SRC_DB'" | grep -q 1 \
  || psql "$BASE" -qc "CREATE DATABASE $SRC_DB"
SRC="$SERVER dbname=$SRC_DB"
echo "== seeding 1 x $CONTACTS x $CONVERSATIONS x $MESSAGES (kept between runs)"
"$BIN" seed --database-url "$SRC" --tenants 1 --contacts "$CONTACTS" \
  --conversations "$CONVERSATIONS" --messages "$MESSAGES" --prefix big 2>/dev/null
SLUG=big-0001
TENANT=$(psql "$SRC" -Atqc "SELECT id FROM tenants WHERE slug = '$SLUG'")

fresh_db() { # name -> a migrated, empty database
  psql "$BASE" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -qc "CREATE DATABASE $1"
  "$BIN" migrate --database-url "$SERVER dbname=$1" >/dev/null 2>&1
}
now() { date +%s.%N; }
timed() { # label command... -> "seconds peak_rss_kb" in $WORK/label
  local label=$1; shift
  local t0; t0=$(now)
  /usr/bin/time -f "%M" -o "$WORK/$label.rss" "$@"
  echo "$(echo "$(now) - $t0" | bc) $(cat "$WORK/$label.rss")" > "$WORK/$label"
}

# The replay: every exported table's rows of the tenant, COPY text from the source, loaded
# by psql in one transaction into a database where the import put the users already (so
# the rows' user ids resolve), under a tenant row of the same id, then rolled back.
replay() { # target database
  local target="$SERVER dbname=$1"
  local script="$WORK/replay.sql"
  {
    echo "\\set ON_ERROR_STOP on"
    echo "BEGIN;"
    echo "SET LOCAL app.quiet_events = 'on'; SET LOCAL app.audit_bulk = 'on';"
    echo "SET LOCAL app.tenant_id = '$TENANT';"
    echo "INSERT INTO tenants (id, slug, name) VALUES ('$TENANT', 'replay', 'Replay');"
  } > "$script"
  # Parents first (the purge order reversed), without the tables an export leaves out.
  psql "$SRC" -Atq -c "$(sed -n '/TENANT_TABLES_SQL: &str = "/,/t.name";/p' src/platform/lifecycle.rs \
      | sed '1s/.*"WITH/WITH/; $s/";$//')" | tac \
    | grep -vxE 'refresh_tokens|export_jobs|audit_log|audit_heads' > "$WORK/tables"
  while read -r table; do
    cols=$(psql "$SRC" -Atqc "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
      FROM pg_attribute WHERE attrelid = 'public.$table'::regclass AND attnum > 0
       AND NOT attisdropped AND attgenerated = ''")
    psql "$SRC" -qc "\\copy (SELECT $cols FROM $table WHERE tenant_id = '$TENANT') TO '$WORK/$table.copy'"
    echo "\\copy $table ($cols) FROM '$WORK/$table.copy'" >> "$script"
  done < "$WORK/tables"
  echo "ROLLBACK;" >> "$script"
  timed replay psql "$target" -q -f "$script"
}

ROWS=$(psql "$SRC" -Atqc "SELECT (SELECT count(*) FROM contacts WHERE tenant_id = '$TENANT')
  + (SELECT count(*) FROM conversations WHERE tenant_id = '$TENANT')
  + (SELECT count(*) FROM messages WHERE tenant_id = '$TENANT')")
for run in $(seq 1 "$RUNS"); do
  echo "== run $run: export, import into a fresh database, clone, replay"
  timed export "$BIN" tenant export "$SLUG" --database-url "$SRC" -o "$WORK/archive"
  fresh_db tenantry_bench_import_dst
  timed import "$BIN" tenant import "$WORK/archive" --database-url "$SERVER dbname=tenantry_bench_import_dst"
  timed clone "$BIN" tenant clone "$SLUG" --to "$SLUG-clone" --database-url "$SRC" \
    --database "$SERVER dbname=tenantry_bench_import_dst"
  replay tenantry_bench_import_dst
  psql "$SRC" -qc "SELECT 1" >/dev/null
  size=$(stat -c %s "$WORK/archive")
  read -r ex ex_rss < "$WORK/export"; read -r im im_rss < "$WORK/import"
  read -r cl cl_rss < "$WORK/clone"; read -r rp _ < "$WORK/replay"
  printf '%s\n' "run $run: $ROWS rows (contacts+conversations+messages), archive $((size / 1024)) KiB" \
    "  export  $ex s  $(echo "$ROWS / $ex" | bc) rows/s  peak RSS $((ex_rss / 1024)) MB" \
    "  import  $im s  $(echo "$ROWS / $im" | bc) rows/s  peak RSS $((im_rss / 1024)) MB" \
    "  clone   $cl s  $(echo "$ROWS / $cl" | bc) rows/s  peak RSS $((cl_rss / 1024)) MB" \
    "  replay  $rp s  (psql COPY of the same rows, same tables)" \
    "  import / replay time: $(echo "scale=2; $im / $rp" | bc)x" | tee -a "$WORK/results"
done
