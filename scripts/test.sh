#!/usr/bin/env bash
# Runs every test: unit tests, then the integration tests against a local stack that this
# script starts (on its own ports, with short limits so the tests run quickly) and stops.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh" --browser
export DDB_PORT="${TEST_DDB_PORT:-8100}" MOTO_PORT="${TEST_MOTO_PORT:-5100}" API_PORT="${TEST_API_PORT:-9100}" STACK_NAME=test
# The settings the integration tests are written against.
export RESEND_COOLDOWN_SECONDS=1 MAX_SENDS_PER_WINDOW=3 CODE_TTL_SECONDS=15 UNVERIFIED_RETENTION_HOURS=0 MAX_CHECK_ATTEMPTS=5
# The whole suite comes from one address (127.0.0.1): the per-client limit is tested in
# tests/races.rs and the unit tests, with limits of its own.
export MAX_SENDS_PER_IP=100000 SMS_ALLOWED_COUNTRIES=DE,US
export ALLOWED_ORIGINS=https://forms.example.com ALLOWED_REDIRECT_ORIGINS=https://forms.example.com
export TABLE_NAME=twostep-test RUST_LOG=info
# Test mode (docs/integrations/README.md): these destinations get codes cut from TEST_CODE and
# no message. Keys are re-read after 2 s, so that a revocation shows within a test.
export TEST_DESTINATIONS=+15005550006,+15005550007,+15005550008,+15005550009,test@twostep.example
export TEST_CODE=123456 API_KEY_CACHE_SECONDS=2
# The voice stub refuses calls to this number, as AWS refuses a blocked destination.
export VOICE_STUB_FAIL=+12025550147
# The suite builds the functions once; an edit elsewhere in the tree must not restart them
# while a test waits for an answer.
export WATCH_FLAGS=--ignore-changes
# shellcheck source=scripts/stack.sh
source "$root/scripts/stack.sh"
trap stop_stack EXIT INT TERM

cd "$root"
echo "== unit tests"
cargo test --workspace --exclude twostep-tests
echo "== the SIP media application's custom resource (template.yaml's inline Python, against stubbed Chime SDK calls)"
if [[ -x "$root/.tools/sam/bin/python" ]]; then
  "$root/.tools/sam/bin/python" "$root/tests/sma_resource_test.py"
else
  echo "skipped: the SAM tools are not installed (TWOSTEP_SKIP_SAM=1)"
fi

start_stack
export TWOSTEP_API_URL="http://127.0.0.1:$API_PORT" TWOSTEP_MOTO_URL="http://127.0.0.1:$MOTO_PORT"
# The AWS call recorder, whose /_faults makes an operation fail (tests/events.rs).
export TWOSTEP_CALLS_URL="http://127.0.0.1:$CALLS_PORT"
# The voice stub's record of calls (scripts/voice_stub.py: GET /calls, POST /reset).
export TWOSTEP_VOICE_URL="http://127.0.0.1:$VOICE_PORT"
export TWOSTEP_TABLE_DEFINITION="$state/table.json" TWOSTEP_TEMPLATE_JSON="$state/template.json"
export TWOSTEP_FUNCTIONS_LOG="$state/functions.log"
# The webhook receiver (docs/integrations/webhook_receiver.py) and its record of deliveries.
export TWOSTEP_HOOK_URL="http://127.0.0.1:$HOOK_PORT" TWOSTEP_WEBHOOKS_LOG="$state/webhooks.jsonl"
# One API key for the integrator tests and the examples in docs/integrations/.
TWOSTEP_API_KEY=$(DDB_PORT="$DDB_PORT" "$root/scripts/keys.sh" --local create test-suite)
# A key with two scopes and its own send limit (tests/scopes.rs), made the way a user makes one.
TWOSTEP_LIMITED_KEY=$(DDB_PORT="$DDB_PORT" "$root/scripts/keys.sh" --local create limited --scopes send,status --max-sends 2)
export TWOSTEP_API_KEY TWOSTEP_LIMITED_KEY
DDB_PORT="$DDB_PORT" "$root/scripts/keys.sh" --local list
echo "== integration tests (logs in .local/test/)"
cargo test --no-fail-fast -p twostep-tests

echo "== integration examples (docs/integrations/*.py, *.mjs) against the local stack"
passed=0 failed=()
for example in ivr_flow workflow_flow events twilio_flow customer_ivr_flow genesys_flow connector_flow call_flow; do
  echo "-- docs/integrations/$example.py"
  if PYTHONDONTWRITEBYTECODE=1 TWOSTEP_URL="$TWOSTEP_API_URL" TWOSTEP_MOTO_URL="$TWOSTEP_MOTO_URL" \
    "$venv/bin/python" "$root/docs/integrations/$example.py"; then
    passed=$((passed + 1))
  else
    failed+=("$example.py")
  fi
done
echo "-- docs/integrations/twilio_flow.mjs (Twilio's Node.js library)"
if TWOSTEP_URL="$TWOSTEP_API_URL" TWOSTEP_MOTO_URL="$TWOSTEP_MOTO_URL" NODE_PATH="$root/.tools/node/node_modules" \
  node "$root/docs/integrations/twilio_flow.mjs"; then
  passed=$((passed + 1))
else
  failed+=("twilio_flow.mjs")
fi
echo "examples: $passed passed, ${#failed[@]} failed${failed[*]:+ (${failed[*]})}"
[[ ${#failed[@]} -eq 0 ]] || exit 1

echo "== fuzzing: generated requests against docs/openapi.yaml (report in .local/fuzz/)"
"$root/scripts/fuzz.sh"

echo "== browser tests: the demo page in headless Chromium (screenshots in target/browser-artifacts/)"
node --test --test-concurrency=1 "$root/tests/browser/"

echo "== least privilege: each function's IAM policy allows exactly the AWS calls it made in this run"
cargo test -q -p twostep-tests --test permissions -- --ignored

echo "== signed webhooks: the receiver verified every delivery of this run with the Standard Webhooks library"
cargo test -q -p twostep-tests --test webhooks -- --ignored --nocapture

echo "== the functions' logs hold no code, full phone number or email address"
if leaks=$(grep -aoE '\+[0-9]{8,15}|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}' "$state/functions.log"); then
  echo "found in .local/test/functions.log:"; echo "$leaks" | sort -u | head
  exit 1
fi
grep -aq "code sent" "$state/functions.log" || { echo "the functions' log is empty: nothing was checked"; exit 1; }
codes=$("$venv/bin/python" -c '
import json, re, sys, urllib.request
def get(url):
    with urllib.request.urlopen(url) as response:
        return json.load(response)
data = get(sys.argv[1] + "/moto-api/data.json")
texts = [m["message"] for m in data["sns"]["SMS"]] + [str(m.get("body", "")) for m in data["ses"]["Message"]]
# A call reads its code digit by digit: the digits of its SSML, outside the tags, in order.
for call in get(sys.argv[2] + "/calls"):
    digits = "".join(re.findall(r"[0-9]", re.sub(r"<[^>]*>", " ", call["body"])))
    texts.append(digits[: len(digits) // 2])
# An interactive call: the codes it read (the digits of what it said) and the codes typed on
# the keypad. None may be in the transaction attributes the calls function stored either.
kept = []
for call in get(sys.argv[2] + "/sma/calls"):
    codes = {"".join(re.findall(r"[0-9]", e["said"]))[:6] for e in call["transcript"] if "said" in e}
    codes |= {e["pressed"] for e in call["transcript"] if len(e.get("pressed") or "") == 6}
    codes = {c for c in codes if len(c) == 6}
    texts.extend(codes)
    attributes = json.dumps([e.get("transaction_attributes") for e in call["transcript"]])
    kept += [c for c in codes if c in attributes]
if kept:
    sys.exit("a code in the transaction attributes of a call: " + ", ".join(kept))
print("\n".join(sorted({c for t in texts for c in re.findall(r"\b[0-9]{6}\b", t)})))' "$TWOSTEP_MOTO_URL" "$TWOSTEP_VOICE_URL")
[[ -n "$codes" ]] || { echo "no delivered codes to look for"; exit 1; }
if grep -awF -f <(echo "$codes") "$state/functions.log"; then
  echo "a delivered code is in .local/test/functions.log"; exit 1
fi
echo "logs: 1 passed, 0 failed ($(echo "$codes" | wc -l) delivered codes looked for)"
