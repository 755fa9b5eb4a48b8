#!/usr/bin/env bash
# Installs the Debian packages Trellis needs to build, test and benchmark.
# A no-op when everything is present; safe to run repeatedly (it is called by `make`).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config clang-14 libfuzzer-14-dev libclang-rt-14-dev
  # libraries
  libre2-dev libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev
  libxxhash-dev libssl-dev libnghttp2-dev libgtest-dev libgmock-dev libbenchmark-dev
  # trellisctl's HTTP client
  libcurl4-openssl-dev
  # xDS: protobuf and gRPC C++ (trellisd), protoc and its gRPC plugin
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  # trellisd's embedded store
  libsqlite3-dev
  # real peers for tests and the benchmark
  curl wrk nghttp2-client python3-h2 python3-grpcio nginx-light haproxy prometheus python3
  openssl python3-cryptography  # s_client as a hostile peer; back-dated certificates
  valgrind strace procps iproute2 util-linux
)
# npm fetches the pinned xDS .proto package (scripts/fetch-xds-protos.sh); Debian's will do
# where the machine has none of its own.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exec bash "$(dirname "$0")/fetch-xds-protos.sh"
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# Packaged daemons (nginx, haproxy) must not start on install: tests start their own on loopback.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && $SUDO rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || $SUDO apt-get update
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
bash "$(dirname "$0")/fetch-xds-protos.sh"
