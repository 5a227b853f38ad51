#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite:
#   1. release build (-O3, runtime SIMD dispatch): every test;
#   2. debug build with AddressSanitizer + UndefinedBehaviorSanitizer: every test;
#   3. ThreadSanitizer build: the concurrency tests (thread pool, HNSW stress, concurrent build,
#      WAL group commit, shard writers/readers/indexer/compactor/checkpoints, query batcher).
# Usage: bash scripts/test.sh            (from the repository root; root or sudo for apt)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(( $(nproc) < 2 ? 1 : 2 ))
run_preset() {
  local preset=$1; shift
  echo "=== [$preset] configure + build (at ${SECONDS}s)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs" "$@"
}

run_preset debug
echo "=== [debug: ASan+UBSan] tests (at ${SECONDS}s)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset debug -j "$jobs"

TSAN_TESTS=(core_util_test index_hnsw_stress_test storage_wal_test segment_shard_stress_test serve_query_batcher_test)
run_preset tsan --target "${TSAN_TESTS[@]}"
echo "=== [tsan] concurrency tests (at ${SECONDS}s)"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --preset tsan -R "^($(IFS='|'; echo "${TSAN_TESTS[*]}"))\$"

run_preset release
echo "=== [release] tests (at ${SECONDS}s)"
ctest --preset release -j "$jobs"
echo "=== all green in ${SECONDS}s"
