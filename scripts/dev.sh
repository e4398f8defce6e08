#!/usr/bin/env bash
# Runs twostep locally: DynamoDB Local, moto (SNS, SES, Secrets Manager), the voice stub and the three
# functions at http://127.0.0.1:9000, the same paths as the deployed API. Ctrl-C stops all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
export DDB_PORT="${DDB_PORT:-8000}" MOTO_PORT="${MOTO_PORT:-5000}" API_PORT="${API_PORT:-9000}" STACK_NAME=dev
# Test mode for trying the integrator API (docs/integrations/README.md): these destinations get
# the code 123456 (cut to the code's length) and no message. Off in a deployed stack by default.
export TEST_DESTINATIONS="${TEST_DESTINATIONS-+15005550006,test@twostep.example}" TEST_CODE="${TEST_CODE:-123456}"
# shellcheck source=scripts/stack.sh
source "$root/scripts/stack.sh"
trap stop_stack EXIT INT TERM
start_stack
api_key=$(DDB_PORT="$DDB_PORT" "$root/scripts/keys.sh" --local create dev)
cat <<MSG

twostep is running at http://127.0.0.1:$API_PORT

  The demo page:    open http://127.0.0.1:$API_PORT/ in a browser (codes: ./scripts/outbox.sh)
  Sign up by SMS:   curl -s -X POST http://127.0.0.1:$API_PORT/signup -H 'content-type: application/json' -d '{"phone":"+14155550123"}'
  Read the SMS:     ./scripts/outbox.sh   (also emails, and what voice calls say)
  A voice call:     curl -s -X POST http://127.0.0.1:$API_PORT/signup -H 'content-type: application/json' -d '{"phone":"+14155550123","channel":"voice"}'
  Fallback:         ... -d '{"phone":"+14155550123","email":"ada@example.com","channels":"sms,voice,email"}' (post again after 30 s: the next channel)
  Verify:           curl -s -X POST http://127.0.0.1:$API_PORT/verify -H 'content-type: application/json' -d '{"phone":"+14155550123","code":"<code>"}'
  Authenticator app: after verifying on the demo page, follow "Set up an authenticator app" (/totp)
  Signed webhooks:  every event is POSTed to docs/integrations/webhook_receiver.py, which verifies it: .local/dev/webhooks.jsonl
  Logs:             .local/dev/*.log

  Servers (IVR, workflow tools) use an API key; this one was just made for you:
    export TWOSTEP_API_KEY=$api_key
    curl -s "http://127.0.0.1:$API_PORT/contacts?phone=%2B14155550123" -H "authorization: Bearer \$TWOSTEP_API_KEY"
  Test mode: +15005550006 and test@twostep.example get the code 123456 and no message.
  More: docs/integrations/README.md (./scripts/keys.sh --local create|list|revoke)

Ctrl-C stops everything.
MSG
wait
