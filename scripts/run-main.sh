#!/usr/bin/env bash
# Installs the dependencies, builds the release binaries, and runs the main job: the ANN benchmark
# on Fashion-MNIST (60k x 784, L2) against hnswlib and FAISS, printing the comparison table.
# Extra arguments go to `vecstream bench ann` (try --help; e.g. --runs 1 --max-base 20000).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(( $(nproc) < 2 ? 1 : 2 ))"
exec build/release/bin/vecstream bench ann "$@"
