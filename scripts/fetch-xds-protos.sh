#!/usr/bin/env bash
# Fetches the Envoy/xDS .proto definitions that trellisd and the proxy compile against, from a
# pinned npm package (@grpc/grpc-js-xds ships them under deps/), checked against the registry's
# sha512 integrity. Nothing is copied into the repository: the files land in .deps/ (ignored).
# A no-op when they are already there.
set -euo pipefail

VERSION=1.14.1
INTEGRITY="sha512-F2mVXwEeMWw1znPUrp+8ykjsIOVnf7Rv+EyIvXOfz73w5tNolCnzokpLkE/d2Ehx30PJmZXqCQdMpx8DcBJohA=="
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.deps/grpc-js-xds-$VERSION"

[ -f "$DEST/deps/envoy-api/envoy/service/discovery/v3/ads.proto" ] && exit 0

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetch-xds-protos: @grpc/grpc-js-xds@$VERSION from the npm registry"
(cd "$work" && npm pack --silent "@grpc/grpc-js-xds@$VERSION" >/dev/null)
tarball="$work/grpc-grpc-js-xds-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "fetch-xds-protos: integrity mismatch for $tarball: $actual" >&2
  exit 1
fi
mkdir -p "$work/x"
tar -xzf "$tarball" -C "$work/x" package/deps
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$work/x/package" "$DEST"
