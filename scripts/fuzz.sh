#!/usr/bin/env bash
# Fuzzes the running API against its description, docs/openapi.yaml, with schemathesis:
# generated requests, valid and invalid, on every operation, and every answer checked
# against the description (status, content type, headers, body schema), with no 5xx
# other than the documented ones. test.sh runs it against its own local stack.
#
#   TWOSTEP_API_URL=http://127.0.0.1:9000 ./scripts/fuzz.sh
#
# FUZZ_MAX_EXAMPLES bounds the test cases per operation and phase (default 100: about 1,700
# test cases in half a minute on 2 cores); FUZZ_SEED repeats a run (the seed is printed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
api="${TWOSTEP_API_URL:?set TWOSTEP_API_URL to the running API, e.g. http://127.0.0.1:9000}"
st="$root/.tools/fuzz/bin/st"
# .tools/fuzz, if it is missing or outdated (nothing else: the SAM tools are not needed here).
TWOSTEP_SKIP_SAM=1 "$root/scripts/bootstrap.sh"

# schemathesis and Hypothesis keep caches in the working folder, and Python would write
# bytecode next to the hooks: both must stay out of the tree that `cargo lambda watch`
# watches, or each write restarts the functions mid-run. .local/ is ignored by it.
out="$root/.local/fuzz"
rm -rf "$out"
mkdir -p "$out"
cd "$out"
export PYTHONDONTWRITEBYTECODE=1
export SCHEMATHESIS_HOOKS="$root/tests/fuzz/hooks.py" TWOSTEP_FUZZ_QUIRKS="$out/quirks.jsonl"
touch "$TWOSTEP_FUZZ_QUIRKS"

# The description must be valid OpenAPI 3.1 before it can judge anything.
"$root/.tools/fuzz/bin/openapi-spec-validator" "$root/docs/openapi.yaml"
# So must the workflow connector's OpenAPI 2.0 (shared/tests/connector.rs checks the rest).
"$root/.tools/fuzz/bin/openapi-spec-validator" --schema 2.0 "$root/connectors/power-automate/apiDefinition.swagger.json"

# --request-retries: the local runner (cargo lambda watch) now and then never answers a GET of
# the 17 KB page (seen once in a fresh clone: a 20 s read timeout on GET /), the hang-up twin of
# the lost response that hooks.py sends again. schemathesis tries a request that timed out or
# lost its connection twice more (any method; a repeated POST is one more request the checks
# judge like any other). Such retries are not counted in the summary line.
seed="${FUZZ_SEED:-$RANDOM$RANDOM}"
start=$(date +%s)
status=0
"$st" --config-file "$root/tests/fuzz/schemathesis.toml" run "$root/docs/openapi.yaml" \
  --url "$api" \
  --max-examples "${FUZZ_MAX_EXAMPLES:-100}" \
  --seed "$seed" \
  --request-timeout 20 \
  --request-retries 2 \
  --output-sanitize false \
  --report junit --report-junit-path "$out/junit.xml" \
  >"$out/schemathesis.txt" 2>&1 || status=$?
seconds=$(( $(date +%s) - start ))
# The report's details (failures with a curl line to reproduce each) when anything failed.
if [[ $status != 0 ]]; then
  if grep -q '= ERRORS =\|= FAILURES =' "$out/schemathesis.txt"; then
    sed -n '/= ERRORS =\|= FAILURES =/,$p' "$out/schemathesis.txt"
  else
    tail -n 20 "$out/schemathesis.txt"
  fi
fi

"$root/.tools/fuzz/bin/python" - "$out" "$seconds" "$seed" "$status" <<'PY'
import json, re, sys
out, seconds, seed, status = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = open(f"{out}/schemathesis.txt", encoding="utf-8").read()
m = re.search(r"Operations:\s+(\d+) selected", text)
operations = m.group(1) if m else "?"
m = re.search(r"(\d+) generated(?:, (\d+) found (\d+) unique failures)?(?:, (\d+) errored)?", text)
cases = m.group(1) if m else "?"
failures = int(m.group(3) or 0) if m else 0
errors = int(m.group(4) or 0) if m else 0
quirks = {}
for line in open(f"{out}/quirks.jsonl", encoding="utf-8"):
    kind = json.loads(line)["kind"]
    quirks[kind] = quirks.get(kind, 0) + 1
handled = ", ".join(f"{n} {k}" for k, n in sorted(quirks.items())) or "none"
if status != 0 and failures == 0 and errors == 0:
    errors = 1  # schemathesis itself failed (bad description, unreachable API): see its output
print(f"fuzz: {cases} test cases on {operations} operations, {failures} failures, {errors} errors "
      f"in {seconds} s (seed {seed}; local runner quirks handled: {handled})")
sys.exit(0 if status == 0 else 1)
PY
