#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of Vecstream by Debian package name.
# Debian 12 (bookworm); run as root (or with sudo available). Safe to run repeatedly.
set -euo pipefail

PACKAGES=(
  # toolchain and build
  build-essential cmake ninja-build pkg-config git
  # core: BLAS for batched distances
  libopenblas-dev
  # app: command line
  libcli11-dev
  # compression of data files (gzip idx files of Fashion-MNIST)
  zlib1g-dev
  # segment payloads and filters (JSON); streaming runbooks (YAML)
  nlohmann-json3-dev libyaml-cpp-dev
  # tests and micro-benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # peers for the ANN benchmark (and test oracles)
  libhnswlib-dev libfaiss-dev
  # data: the ann-benchmarks Fashion-MNIST set
  dataset-fashion-mnist
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
