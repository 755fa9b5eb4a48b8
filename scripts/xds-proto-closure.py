"""Lists the .proto files (import closure) that the given top-level xDS protos need, from the
package fetched by scripts/fetch-xds-protos.sh. Regenerates src/xds/proto/protos.txt:

  cd .deps/grpc-js-xds-*/deps && /usr/bin/python3 ../../../scripts/xds-proto-closure.py . \
      envoy/service/discovery/v3/ads.proto ... | sort > ../../../src/xds/proto/protos.txt

(the list of top-level files used is in src/xds/proto/CMakeLists.txt). google/protobuf/* come
from Debian's libprotobuf-dev and are left out."""
import os, re, sys
roots = ["envoy-api", "googleapis", "protoc-gen-validate", "xds"]
base = sys.argv[1]
tops = sys.argv[2:]
seen, order = set(), []
def find(p):
    for r in roots:
        f = os.path.join(base, r, p)
        if os.path.exists(f): return f
    return None
def visit(p):
    if p in seen or p.startswith("google/protobuf/"): return
    seen.add(p)
    f = find(p)
    if f is None: print("MISSING", p, file=sys.stderr); return
    for imp in re.findall(r'^import\s+(?:public\s+|weak\s+)?"([^"]+)";', open(f).read(), re.M):
        visit(imp)
    order.append(p)
for t in tops: visit(t)
for p in order: print(p)
