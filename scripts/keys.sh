#!/usr/bin/env bash
# Creates, lists and revokes API keys for server callers (docs/integrations/README.md).
#
#   ./scripts/keys.sh --local create ivr        the stack of ./scripts/dev.sh (DDB_PORT, TABLE_NAME
#                                               select another local stack)
#   TABLE_NAME=<TableName output> ./scripts/keys.sh create ivr-prod
#                                               a deployed stack, with your AWS credentials
#   ./scripts/keys.sh [--local] list
#   ./scripts/keys.sh [--local] revoke <id>
#
# `create` prints the key once, on stdout; the table keeps only its SHA-256.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == "--local" ]]; then
  shift
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_SESSION_TOKEN=
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:${DDB_PORT:-8000}"
  export TABLE_NAME="${TABLE_NAME:-twostep-local}"
fi
cd "$root"
cargo build -q -p twostep --bin twostep-keys
exec "${CARGO_TARGET_DIR:-$root/target}/debug/twostep-keys" "$@"
