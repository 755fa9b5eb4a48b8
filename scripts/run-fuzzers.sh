#!/usr/bin/env bash
# Runs every libFuzzer target built in $1 for $2 seconds each, starting from its seed corpus.
# Fails if any target finds a crash, leak or sanitizer error. The last lines name each failure,
# its sanitizer summary and the crashing input (base64), so a CI log's tail alone reproduces it;
# crashing inputs are also kept in $1/fuzz-artifacts/.
set -euo pipefail
build_dir=$1
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"
failures=()
found=0
for dir in "$root"/tests/fuzz/*/; do
  name=$(basename "$dir")
  bin=$(find "$build_dir/tests/fuzz" -type f -name "fuzz_$name" -perm -u+x | head -1)
  [ -n "$bin" ] || { echo "fuzz: no binary for $name"; failures+=("$name: no binary"); continue; }
  found=$((found + 1))
  work=$(mktemp -d)
  cp -r "$dir/corpus/." "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/$name-" "$work" >"$work/log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -60 "$work/log"
    summary=$(grep -m1 -E "^SUMMARY:|ERROR: libFuzzer|deadly signal" "$work/log" || echo "no summary")
    reason="$name: $summary"
    for input in "$work/$name-"*; do
      [ -f "$input" ] || continue
      cp "$input" "$artifacts/"
      reason+=$'\n'"  input $(basename "$input") ($(stat -c %s "$input") bytes): $(head -c 600 "$input" | base64 -w0)"
    done
    failures+=("$reason")
  else
    grep -E "stat::number_of_executed_units|Done" "$work/log" | tail -2
  fi
  rm -rf "$work"
done
[ "$found" -gt 0 ] || { echo "fuzz: no targets found"; exit 1; }
if [ ${#failures[@]} -eq 0 ]; then
  echo "fuzz: $found passed, 0 failed"
  exit 0
fi
echo "fuzz: ${#failures[@]} failed (crashing inputs kept in $artifacts):"
printf '  %s\n' "${failures[@]}"
exit 1
