#!/usr/bin/env bash
# The build every benchmark measures (sourced by the bench scripts, from the project root):
# the `production` profile of Cargo.toml, the one to deploy (release with whole-program
# optimisation); with PGO=yes, the same profile-guided: built once instrumented, trained on
# the mixed workload (bench/mixed.sh: every shape users send), then built again with what
# the training measured. Sets BIN and defines bench_build.
#
#   PGO=no (default)  the production build: $CARGO_TARGET_DIR/production/tenantry
#   PGO=yes           the profile-guided one: $CARGO_TARGET_DIR/pgo/use/<host>/production/tenantry
#                     (needs what bench/mixed.sh needs, and rustup for llvm-tools)
#   BUILD=no          measure the binary already built (of the same PGO setting)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
PGO=${PGO:-no}
if [ -n "${PGO_TRAINING_BIN:-}" ]; then
  # The training run itself (bench_build_pgo below): the instrumented binary, as built.
  BIN=$PGO_TRAINING_BIN BUILD=no
elif [ "$PGO" = yes ]; then
  HOST=$(rustc -vV | sed -n 's/^host: //p')
  # Absolute: rustc reads -Cprofile-use relative to each crate's own directory.
  PGO_DIR="$(realpath -m "$CARGO_TARGET_DIR")/pgo"
  BIN="$PGO_DIR/use/$HOST/production/tenantry"
else
  BIN="$CARGO_TARGET_DIR/production/tenantry"
fi

# Builds the binary (unless BUILD=no).
bench_build() {
  if [ "${BUILD:-yes}" = no ]; then
    [ -x "$BIN" ] || { echo "BUILD=no but $BIN is missing: run once without BUILD=no" >&2; exit 1; }
    return
  fi
  if [ "$PGO" = yes ]; then
    bench_build_pgo
    return
  fi
  echo "== building (production profile: about 10 min from clean on 2 cores)"
  cargo build --profile production --quiet
}

# The profile-guided build, in three steps (about 30 min on 2 cores: the second build always
# starts from clean). Each build has its own target directory (RUSTFLAGS differ) and names
# the host target, so that the flags reach Tenantry and its dependencies but not build
# scripts or proc macros.
bench_build_pgo() {
  # llvm-profdata of the toolchain's own LLVM (the raw profiles' format follows it).
  rustup component add llvm-tools >/dev/null 2>&1 || true
  local profdata
  profdata="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"
  [ -x "$profdata" ] || { echo "llvm-profdata missing: rustup component add llvm-tools" >&2; exit 1; }
  echo "== building instrumented (production profile, profile-generate)"
  rm -rf "$PGO_DIR/raw"
  RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$PGO_DIR/raw" cargo build --profile production \
    --quiet --bin tenantry --target "$HOST" --target-dir "$PGO_DIR/generate"
  echo "== training: bench/mixed.sh, 5 s phases, with the instrumented server"
  # The reference seed and workload, whatever the calling bench was asked to run (its sizes,
  # its database). The server writes its profile when it exits (SIGTERM after each phase).
  env -u DATABASE_URL -u MIX -u RUST_LOG TENANTS=100 CONTACTS=1000 CONVERSATIONS=3 MESSAGES=5 \
    CONCURRENCY=32 DURATION=5 WARMUP=2 PGO_TRAINING_BIN="$PGO_DIR/generate/$HOST/production/tenantry" \
    bash bench/mixed.sh > "$PGO_DIR/training.log" 2>&1 ||
    { echo "the training run failed: see $PGO_DIR/training.log" >&2; exit 1; }
  compgen -G "$PGO_DIR/raw/*.profraw" > /dev/null ||
    { echo "the training wrote no profile: see $PGO_DIR/training.log" >&2; exit 1; }
  "$profdata" merge -o "$PGO_DIR/merged.profdata" "$PGO_DIR"/raw/*.profraw
  echo "== building with the profile"
  # From clean: cargo would keep dependencies built with an earlier profile.
  rm -rf "$PGO_DIR/use"
  RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$PGO_DIR/merged.profdata" cargo build \
    --profile production --quiet --bin tenantry --target "$HOST" --target-dir "$PGO_DIR/use"
}
