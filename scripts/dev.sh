#!/usr/bin/env bash
# Runs twostep locally: DynamoDB Local, moto (SNS, SES, Secrets Manager) and the three
# functions at http://127.0.0.1:9000, the same paths as the deployed API. Ctrl-C stops all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
export DDB_PORT="${DDB_PORT:-8000}" MOTO_PORT="${MOTO_PORT:-5000}" API_PORT="${API_PORT:-9000}" STACK_NAME=dev
# shellcheck source=scripts/stack.sh
source "$root/scripts/stack.sh"
trap stop_stack EXIT INT TERM
start_stack
cat <<MSG

twostep is running at http://127.0.0.1:$API_PORT

  The demo page:    open http://127.0.0.1:$API_PORT/ in a browser (codes: ./scripts/outbox.sh)
  Sign up by SMS:   curl -s -X POST http://127.0.0.1:$API_PORT/signup -H 'content-type: application/json' -d '{"phone":"+14155550123"}'
  Read the SMS:     ./scripts/outbox.sh
  Verify:           curl -s -X POST http://127.0.0.1:$API_PORT/verify -H 'content-type: application/json' -d '{"phone":"+14155550123","code":"<code>"}'
  Logs:             .local/dev/*.log

Ctrl-C stops everything.
MSG
wait
