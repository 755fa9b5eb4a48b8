#!/usr/bin/env bash
# make demo: a small mesh on this machine. Until the control plane lands (issue 4) this is one
# trellis-proxy in front of four trellis-echo instances, driven with steady traffic; it shows
# round robin, a 90/10 canary split in live numbers, and the proxy's own metrics.
# Ctrl-C stops everything it started.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  echo "demo stopped; nothing left running."
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo_bin="$build/src/apps/echo/trellis-echo"
proxy_bin="$build/src/proxy/trellis-proxy"
start_echo() {  # name instance port
  "$echo_bin" --name "$1" --instance "$2" --listen "127.0.0.1:$3" --ready-file "$work/$1-$2" \
    >/dev/null 2>&1 &
  pids+=($!)
}
start_echo shop 1 18101
start_echo shop 2 18102
start_echo billing 1 18201
start_echo billing-v2 1 18202
for f in shop-1 shop-2 billing-1 billing-v2-1; do
  for _ in $(seq 100); do [ -s "$work/$f" ] && break; sleep 0.05; done
done
"$proxy_bin" --config "$root/examples/demo/proxy.yaml" --admin-address 127.0.0.1:19901 \
  --admin-port-file "$work/admin" --log-level warn &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/admin" ] && break; sleep 0.05; done

cat <<INFO

Trellis demo is running.
  proxy:   http://127.0.0.1:18080/         (try: curl -s http://127.0.0.1:18080/cart | head)
  admin:   http://127.0.0.1:19901/stats/prometheus  /config_dump  /clusters  /ready
  config:  examples/demo/proxy.yaml        (edit it, then: curl -XPOST 127.0.0.1:19901/reload)
Driving traffic; Ctrl-C to stop.

INFO
count() {  # path requests -> "N service/instance ..." (one curl, keep-alive)
  local urls=()
  for _ in $(seq "$2"); do urls+=("http://127.0.0.1:18080$1"); done
  curl -s "${urls[@]}" | grep -o '"service":"[^"]*","instance":"[^"]*"' |
    sed -E 's/"service":"([^"]*)","instance":"([^"]*)"/\1\/\2/' | sort | uniq -c | tr -s ' \n' ' '
}
round=0
while true; do
  round=$((round + 1))
  shop=$(count /cart 20)
  billing=$(count /billing/pay 100)
  rps=$(curl -s 127.0.0.1:19901/stats/prometheus | awk '/^trellis_http_requests_total/ {s+=$NF} END {print s+0}')
  printf 'round %d  shop(20): %s | billing(100): %s | total proxied: %s\n' "$round" "$shop" "$billing" "$rps"
  sleep 1
done
