#!/usr/bin/env bash
# After `sam build`: every function's bootstrap exists and is within the size budget
# (BENCHMARKS.md, "What a binary is made of"): 6 MB, as built for Lambda (arm64). A change
# that crosses it should say what it adds, or find the room.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=6000000
for fn in SendFunction VerifyFunction CleanupFunction EventsFunction WebhookFunction CallsFunction; do
  file=".aws-sam/build/$fn/bootstrap"
  test -s "$file" || { echo "missing $file" >&2; exit 1; }
  size=$(wc -c < "$file")
  echo "$fn: $size bytes (budget $budget)"
  [ "$size" -le "$budget" ] || { echo "$fn is over the 6 MB budget: see BENCHMARKS.md" >&2; exit 1; }
done
