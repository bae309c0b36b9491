#!/usr/bin/env bash
# The build every benchmark measures (sourced by the bench scripts, from the project root):
# the `production` profile of Cargo.toml, the one to deploy (release with whole-program
# optimisation). Sets BIN and defines bench_build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
BIN="$CARGO_TARGET_DIR/production/tenantry"

# Builds the binary (unless BUILD=no).
bench_build() {
  if [ "${BUILD:-yes}" = no ]; then
    [ -x "$BIN" ] || { echo "BUILD=no but $BIN is missing: run once without BUILD=no" >&2; exit 1; }
    return
  fi
  echo "== building (production profile: about 10 min from clean on 2 cores)"
  cargo build --profile production --quiet
}
