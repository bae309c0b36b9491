#!/usr/bin/env bash
# Instructions per feed request, counted by valgrind's callgrind: for comparing two builds of
# the server when CPU time is too noisy to (on a shared 2-core machine the same binary's CPU
# per request swings 30-50 % within the hour; an instruction count repeats within about 1 %
# at concurrency 1). It counts user-space instructions only, not cache misses or syscalls,
# and software paths where valgrind hides a CPU feature (SHA-NI): a guide for code changes,
# not a replacement for bench/run.sh's figures.
#
#   bench/instructions.sh [BIN ...]     (default: the production build, see build.sh)
#
# Each binary is started under callgrind with instrumentation off, warmed up for WARMUP s,
# then counted over DURATION s of feed requests at concurrency 1. Needs valgrind
# (apt-get install valgrind) besides what bench/run.sh needs. The callgrind output of each
# binary is left in $WORK for callgrind_annotate. The counted window also holds the server's
# background work (pool upkeep) and the request in flight when wrk stops: a few instructions
# in a million, within the 1 %. A build that answers any request with an error is refused
# (error paths do less work and would look faster).
# lib.sh changes to the project root: relative paths of binaries are resolved first.
args=()
for a in "$@"; do args+=("$(realpath "$a")"); done
set -- "${args[@]}"
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-8}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
set -euo pipefail

[ $# -gt 0 ] || { bench_build; set -- "$BIN"; }
BIN=$1
bench_database >/dev/null
bench_tokens
python3 -c "import json; print(json.dumps({'query': open('bench/queries/feed.graphql').read()}))" > "$WORK/body.json"
export TOKENS_FILE="$WORK/tokens" BODY_FILE="$WORK/body.json"

n=0
for bin in "$@"; do
  n=$((n + 1))
  out="$WORK/callgrind.$n"
  mkdir -p "$out"
  RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out/callgrind.out.%p" "$bin" serve --port "$PORT" \
    > "$WORK/server.out" 2> "$WORK/server.err" &
  SERVER=$!
  trap stop_server EXIT
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null ||
    { echo "$bin did not become ready:" >&2; tail -20 "$WORK/server.err" >&2; exit 1; }
  run_wrk 1 "$WARMUP" bench/feed.lua > /dev/null
  callgrind_control -i on "$SERVER" > /dev/null
  read -r _ _ _ _ errors < <(run_wrk 1 "$DURATION" bench/feed.lua)
  requests=$(awk '/requests in/{print $1}' "$WORK/wrk.out")
  if [ "${errors:-1}" != 0 ] || [ "${requests:-0}" -eq 0 ]; then
    echo "$bin: ${requests:-0} requests, ${errors:-?} errors: not counted (see $WORK/wrk.out)" >&2
    exit 1
  fi
  callgrind_control -i off "$SERVER" > /dev/null
  callgrind_control -d "$SERVER" > /dev/null
  stop_server
  instructions=$(cat "$out"/callgrind.out.* | awk '/^totals:/{t += $2} END{print t + 0}')
  awk -v b="$bin" -v i="$instructions" -v r="$requests" -v o="$out" 'BEGIN{
    printf "%s: %d requests, %.3f M instructions per request (callgrind output in %s)\n", b, r, i / r / 1e6, o}'
done
