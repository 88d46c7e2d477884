#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ (issue #18) and runs each for a bounded time from its seed
# corpus, failing on the first crash, assertion or hang and saying which target and input.
# scripts/test.sh runs it (5 s a target); longer runs: scripts/fuzz.sh 300.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# It needs nothing beyond stable Rust and a C++ compiler: libfuzzer-sys (a crates.io package)
# compiles libFuzzer with it, and the coverage instrumentation libFuzzer steers by is asked of
# rustc with stable codegen flags (-Cpasses=sancov-module and LLVM's sanitizer-coverage options),
# so neither nightly nor cargo-fuzz is needed. The build is cached in fuzz/target (or
# $SERIN_FUZZ_TARGET_DIR) and only rebuilt when the code changes.
#
# New inputs the fuzzer finds go to fuzz/target/corpus/TARGET, never into the committed seeds
# in fuzz/corpus; a failing input is saved as fuzz/artifacts/TARGET/crash-* (or timeout-*,
# oom-*) and can be replayed with: fuzz/target/x86_64-unknown-linux-gnu/release/TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
# A failed assertion says what failed; the backtrace is in the log when asked for.
export RUST_BACKTRACE=${RUST_BACKTRACE:-0}

seconds=${1:-5}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(http_request http_response http_connection traefik_rule yaml_load expr_condition go_json)
fi
case $seconds in
  '' | *[!0-9]*) echo "scripts/fuzz.sh: SECONDS_PER_TARGET must be a number, not $seconds" >&2; exit 2 ;;
esac

if ! command -v c++ >/dev/null 2>&1; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends g++
fi

host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${SERIN_FUZZ_TARGET_DIR:-$PWD/target}
# What cargo-fuzz passes with --sanitizer=none. With an explicit --target, RUSTFLAGS reach only
# the code built for it, not build scripts and proc macros (which could not link without
# libFuzzer).
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth"
bins=()
for target in "${targets[@]}"; do bins+=(--bin "$target"); done
echo "scripts/fuzz.sh: building ${targets[*]}" >&2
cargo build --release --target "$host" "${bins[@]}"

failed=()
for target in "${targets[@]}"; do
  binary=$CARGO_TARGET_DIR/$host/release/$target
  found=$CARGO_TARGET_DIR/corpus/$target
  artifacts=$PWD/artifacts/$target
  mkdir -p "$found" "$artifacts"
  log=$CARGO_TARGET_DIR/fuzz-$target.log
  echo "scripts/fuzz.sh: $target for ${seconds}s" >&2
  # The first corpus directory takes what the fuzzer finds; the seeds are only read. A run
  # that ends at -max_total_time exits 0; a crash, a failed assertion, a timeout (an input
  # taking over 10 s) or running out of memory (2 GiB) exits otherwise.
  if "$binary" "$found" "corpus/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^#[0-9]+ +DONE' "$log" |
      tr '\n' ' ' | sed "s/^/  $target: /" >&2
    echo >&2
  else
    tail -n 60 "$log" >&2
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "scripts/fuzz.sh: $target FAILED on input ${input:-(see $log)}; replay: $binary $input" >&2
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "scripts/fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "scripts/fuzz.sh: ${#targets[@]} targets ran ${seconds}s each without a failure" >&2
