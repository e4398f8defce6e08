# Sourced by dev.sh and test.sh: starts and stops the local stack (DynamoDB Local, moto, the
# voice stub, the functions under cargo lambda watch). Ports come from the caller's environment.
# shellcheck shell=bash

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/venv"
jar_dir="$root/.tools/node/node_modules/amplify-dynamodb-simulator/emulator"
state="$root/.local/${STACK_NAME:-dev}"
mkdir -p "$state"
pids=()

say() { printf '[twostep] %s\n' "$*" >&2; }

# The environment the functions and the SDK see: only endpoints differ from AWS.
stack_env() {
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_SESSION_TOKEN=
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  # Every AWS call passes through scripts/aws_calls.py, which writes it down (the tests
  # check permissions and request counts from that record) and hands it to the emulator.
  CALLS_PORT="${CALLS_PORT:-$((MOTO_PORT + 1))}"
  export AWS_CALLS_LOG="$state/aws-calls.jsonl"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$CALLS_PORT"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$CALLS_PORT"
  # Voice calls (End User Messaging SMS and Voice v2, which moto lacks) go through the recorder
  # to scripts/voice_stub.py. VOICE_ORIGINATION_IDENTITY= (set and empty) turns voice off.
  VOICE_PORT="${VOICE_PORT:-$((MOTO_PORT + 2))}"
  export VOICE_ORIGINATION_IDENTITY="${VOICE_ORIGINATION_IDENTITY-+15005550000}"
  export TABLE_NAME="${TABLE_NAME:-twostep-local}"
  # Interactive calls (channel call): the SIP media application and the number calls come
  # from; the voice stub plays the phone network (its /sma/* API). SIP_MEDIA_APPLICATION_ID=
  # (set and empty) turns them off. Call-backs are on locally (off by default in AWS).
  export SIP_MEDIA_APPLICATION_ID="${SIP_MEDIA_APPLICATION_ID-local-sma}"
  export CALL_FROM_NUMBER="${CALL_FROM_NUMBER:-+15005550100}"
  export CALL_BACK_ENABLED="${CALL_BACK_ENABLED:-true}"
  # The outcome events' bus; local_setup.py makes it, with a rule that copies every event to
  # the log group /twostep/local/events.
  export EVENT_BUS_NAME="${EVENT_BUS_NAME:-${TABLE_NAME}-events}"
  # The signed webhook: the bus's rule puts every event on a queue in moto, the webhooks
  # function POSTs each, signed, to docs/integrations/webhook_receiver.py on $HOOK_PORT.
  # The waits between attempts are seconds here (the template's: 5 s to 10 h).
  HOOK_PORT="${HOOK_PORT:-$((MOTO_PORT + 4))}"
  export WEBHOOK_URL="${WEBHOOK_URL:-http://127.0.0.1:$HOOK_PORT/twostep}"
  export WEBHOOK_SECRET_ID="${WEBHOOK_SECRET_ID:-twostep-local/webhook-secret}"
  export WEBHOOK_QUEUE_URL="${WEBHOOK_QUEUE_URL:-http://127.0.0.1:$CALLS_PORT/123456789012/${TABLE_NAME}-webhooks}"
  export WEBHOOK_RETRY_SECONDS="${WEBHOOK_RETRY_SECONDS:-1,2,2}"
  export WEBHOOK_SECRET_CACHE_SECONDS="${WEBHOOK_SECRET_CACHE_SECONDS:-1}"
  export ENVIRONMENT="${ENVIRONMENT:-dev}"
  export EMAIL_FROM="${EMAIL_FROM:-codes@twostep.example}"
  export CODE_HASH_SECRET_ID="${CODE_HASH_SECRET_ID:-twostep-local/code-hash-key}"
  # The key that seals authenticator-app secrets; empty turns apps off.
  export TOTP_KEY_SECRET_ID="${TOTP_KEY_SECRET_ID-twostep-local/totp-key}"
  # CORS origins and form redirect targets (the demo page redirects to its own paths).
  export ALLOWED_ORIGINS="${ALLOWED_ORIGINS:-}" ALLOWED_REDIRECT_ORIGINS="${ALLOWED_REDIRECT_ORIGINS:-}"
  export RUST_LOG="${RUST_LOG:-info}"
  export PATH="$venv/bin:$PATH"
}

wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  say "nothing answered at $1 after $2 s"; return 1
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# DynamoDB Local, moto and the call recorder, with the table and the secret created.
start_emulators() {
  stack_env
  local p
  for p in "$DDB_PORT" "$MOTO_PORT" "$CALLS_PORT" "$VOICE_PORT" "$HOOK_PORT" ${API_PORT:+"$API_PORT"}; do
    port_free "$p" || { say "port $p is in use: stop what runs there, or set the *_PORT variables"; return 1; }
  done
  say "starting DynamoDB Local on :$DDB_PORT"
  # It writes a metadata file into its working folder: keep that in .local/, not the tree.
  (cd "$state" && exec java -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
    -inMemory -sharedDb -disableTelemetry -port "$DDB_PORT") >"$state/dynamodb.log" 2>&1 &
  pids+=($!)
  say "starting moto (SNS, SES v2, Secrets Manager) on :$MOTO_PORT"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$state/moto.log" 2>&1 &
  pids+=($!)
  say "starting the voice stub (End User Messaging SMS and Voice v2, Chime SDK PSTN Audio) on :$VOICE_PORT"
  # Numbers in VOICE_STUB_FAIL (comma-separated) get a refusal, as AWS can answer. With the
  # functions served ($API_PORT), the stub plays the calls' phone network against the calls
  # function (its /sma/* API answers, rings, presses keys); without, /sma/* answers 503.
  "$venv/bin/python" "$root/scripts/voice_stub.py" "$VOICE_PORT" \
    ${API_PORT:+--lambda-url "http://127.0.0.1:$API_PORT/2015-03-31/functions/calls/invocations"} \
    >"$state/voice.log" 2>&1 &
  pids+=($!)
  say "recording AWS calls on :$CALLS_PORT (.local/${STACK_NAME:-dev}/aws-calls.jsonl)"
  : >"$AWS_CALLS_LOG"
  # shellcheck disable=SC2086 # AWS_CALLS_OPTIONS is a list of options
  "$venv/bin/python" "$root/scripts/aws_calls.py" "$CALLS_PORT" "http://127.0.0.1:$DDB_PORT" \
    "http://127.0.0.1:$MOTO_PORT" "$AWS_CALLS_LOG" --voice "http://127.0.0.1:$VOICE_PORT" \
    ${AWS_CALLS_OPTIONS:-} >"$state/aws-calls.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$DDB_PORT" 30
  wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" 30
  wait_http "http://127.0.0.1:$VOICE_PORT/calls" 30
  wait_http "http://127.0.0.1:$CALLS_PORT/moto-api/data.json" 30
  "$venv/bin/python" "$root/scripts/local_setup.py" "$TABLE_NAME" --definition-out "$state/table.json" \
    --template-out "$state/template.json"
  say "receiving the signed webhooks on :$HOOK_PORT (.local/${STACK_NAME:-dev}/webhooks.jsonl)"
  : >"$state/webhooks.jsonl"
  "$venv/bin/python" "$root/docs/integrations/webhook_receiver.py" --port "$HOOK_PORT" \
    --secret-id "$WEBHOOK_SECRET_ID" --record "$state/webhooks.jsonl" >"$state/webhook-receiver.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$HOOK_PORT/deliveries" 30
}

# The emulators, then the functions under cargo lambda watch on $API_PORT.
start_stack() {
  start_emulators
  say "building the functions"
  (cd "$root" && cargo build --workspace --bins)
  say "serving the functions on http://127.0.0.1:$API_PORT"
  # shellcheck disable=SC2086 # WATCH_FLAGS is a list of flags
  (cd "$root" && exec cargo lambda watch --disable-cors -A 127.0.0.1 -P "$API_PORT" ${WATCH_FLAGS:-}) >"$state/functions.log" 2>&1 &
  pids+=($!)
  # The watcher compiles a function on its first request: warm all three up.
  wait_http "http://127.0.0.1:$API_PORT/verifications/00000000000000000000000000" 300
  curl -s -o /dev/null -X POST -H 'content-type: application/json' -d '{}' "http://127.0.0.1:$API_PORT/signup"
  curl -s -o /dev/null -X POST "http://127.0.0.1:$API_PORT/2015-03-31/functions/cleanup/invocations" -d '{"dry_run":true}'
  curl -s -o /dev/null -X POST "http://127.0.0.1:$API_PORT/2015-03-31/functions/events/invocations" -d '{"Records":[]}'
  curl -s -o /dev/null -X POST "http://127.0.0.1:$API_PORT/2015-03-31/functions/webhooks/invocations" -d '{"Records":[]}'
  curl -s -o /dev/null -X POST "http://127.0.0.1:$API_PORT/2015-03-31/functions/calls/invocations" \
    -d '{"InvocationEventType":"RINGING","CallDetails":{"Participants":[{"CallId":"warm-up"}]}}'
  # Lambda's stream event source mapping, played locally: the table's stream to the events
  # function, with the template's filters and retries.
  say "reading the table's stream into the events function (.local/${STACK_NAME:-dev}/streams.log)"
  "$venv/bin/python" "$root/scripts/streams.py" "$TABLE_NAME" "http://127.0.0.1:$DDB_PORT" \
    "http://127.0.0.1:$API_PORT/2015-03-31/functions/events/invocations" "$state/template.json" \
    >"$state/streams.log" 2>&1 &
  pids+=($!)
  # Lambda's SQS event source mapping, played locally: the webhook queue to the webhooks function.
  say "delivering the webhook queue to the webhooks function (.local/${STACK_NAME:-dev}/queues.log)"
  "$venv/bin/python" "$root/scripts/queues.py" "$WEBHOOK_QUEUE_URL" "http://127.0.0.1:$MOTO_PORT" \
    "http://127.0.0.1:$API_PORT/2015-03-31/functions/webhooks/invocations" "$state/template.json" \
    >"$state/queues.log" 2>&1 &
  pids+=($!)
}

stop_stack() {
  local pid
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
