#!/usr/bin/env bash
# Runs every libFuzzer target built in $1 for $2 seconds each, starting from its seed corpus.
# Fails if any target finds a crash, leak or sanitizer error.
set -euo pipefail
build_dir=$1
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
found=0
for dir in "$root"/tests/fuzz/*/; do
  name=$(basename "$dir")
  bin=$(find "$build_dir/tests/fuzz" -type f -name "fuzz_$name" -perm -u+x | head -1)
  [ -n "$bin" ] || { echo "fuzz: no binary for $name"; status=1; continue; }
  found=$((found + 1))
  work=$(mktemp -d)
  cp -r "$dir/corpus/." "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/" "$work" >"$work/log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -50 "$work/log"; status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/log" | tail -2
  fi
  rm -rf "$work"
done
[ "$found" -gt 0 ] || { echo "fuzz: no targets found"; exit 1; }
[ $status -eq 0 ] && echo "$found passed, 0 failed" || echo "fuzz: failures"
exit $status
