#!/usr/bin/env bash
# Installs the dependencies, builds the release binaries, and runs the main job: `vecstream demo`,
# the whole stream on this machine — a Kafka-protocol broker and the server as their own
# processes, WordNet glosses (text, embedded on the way in) and Fashion-MNIST vectors streamed
# through Kafka, a query load, live figures (events/s, lag, freshness, QPS, recall), related-article
# text queries at the end. It runs for 60 s; Ctrl-C stops it earlier, cleanly.
# Extra arguments go to `vecstream demo` (try --help; e.g. --duration 0 runs until Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(( $(nproc) < 2 ? 1 : 2 ))"
exec build/release/bin/vecstream demo "$@"
