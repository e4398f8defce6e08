#!/usr/bin/env bash
# The benchmark (BENCHMARKS.md): cold starts under a local Lambda Runtime API against a
# Node.js baseline, warm latency, DynamoDB requests and capacity, memory, arm64 binary sizes
# and the cost of a million verifications, on a local stack of its own.
#
# usage: scripts/bench.sh [--quick] [--no-arm64] [--update-docs]
#   --quick        debug binaries, few samples: checks that the benchmark runs and that the
#                  request counts hold (CI runs it); its timings mean nothing.
#   --no-arm64     skips the arm64 build; sizes come from the last one, if any.
#   --update-docs  writes the report into BENCHMARKS.md (between its bench markers).
# Variables: BENCH_N (warm calls per operation), BENCH_INIT_RUNS (cold starts per binary),
# BENCH_BIN_DIR (other binaries, e.g. another build to compare), BENCH_BEFORE_DIR (a second
# build whose send, verify, calls and cleanup start in the same rounds, as "(before)" rows),
# BENCH_ONLY=cold (cold starts only, printed as JSON: the tuning comparisons in BENCHMARKS.md),
# BENCH_ONLY=warm (the straight warm pass only: each operation's latency and CPU per call).
# Results: .local/bench/report.md and .local/bench/results.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode=full update=0 arm64=1
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick arm64=0 ;;
    --no-arm64) arm64=0 ;;
    --update-docs) update=1 ;;
    *) echo "usage: scripts/bench.sh [--quick] [--no-arm64] [--update-docs]" >&2; exit 2 ;;
  esac
done
"$root/scripts/bootstrap.sh" --bench

export DDB_PORT="${BENCH_DDB_PORT:-8200}" MOTO_PORT="${BENCH_MOTO_PORT:-5200}" STACK_NAME=bench
unset API_PORT
# Each send goes to a new number from a new address: no limit is met. Codes live 30 s, so
# that the checks come within it and cleanup then finds the unverified contacts' codes expired.
export CODE_TTL_SECONDS=30 UNVERIFIED_RETENTION_HOURS=0 SMS_ALLOWED_COUNTRIES=DE,US
export TABLE_NAME=twostep-bench RUST_LOG=info AWS_CALLS_OPTIONS=--requests
# The webhook secret is read once per start, as deployed (the tests re-read it every second).
export WEBHOOK_SECRET_CACHE_SECONDS=300
# shellcheck source=scripts/stack.sh
source "$root/scripts/stack.sh"
trap stop_stack EXIT INT TERM
cd "$root"

if [[ "$mode" == quick ]]; then
  say "building the functions (debug)"
  cargo build --bins
  bin_dir="$root/target/debug"
else
  say "building the functions (release, this machine's architecture, for the timings)"
  cargo build --release --bins
  bin_dir="$root/target/release"
fi
if [[ "$arm64" == 1 ]]; then
  say "building the arm64 release binaries that Lambda runs (for their sizes)"
  rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1
  PATH="$venv/bin:$PATH" cargo lambda build --release --arm64 --bin send --bin verify --bin cleanup --bin events --bin webhooks --bin calls --bin hello
fi

start_emulators
# An empty table for cleanup's cold starts: its first run then measures the start, not the
# contacts the other cold starts leave behind.
"$venv/bin/python" "$root/scripts/local_setup.py" "$TABLE_NAME-empty"
# A second recorder serves HTTPS, as AWS endpoints do: the cold starts go through it, so
# that they include each function's first TLS handshake.
tls_port=$((MOTO_PORT + 3))
port_free "$tls_port" || { say "port $tls_port is in use"; exit 1; }
# A throw-away CA, and a server certificate for localhost signed by it.
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -days 1 -subj /CN=twostep-bench-ca -keyout "$state/ca.key" -out "$state/ca.crt" 2>/dev/null
openssl req "${ec[@]}" -subj /CN=localhost -keyout "$state/tls.key" -out "$state/tls.csr" 2>/dev/null
openssl x509 -req -in "$state/tls.csr" -CA "$state/ca.crt" -CAkey "$state/ca.key" -CAcreateserial -days 1 \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n') \
  -out "$state/tls.crt" 2>/dev/null
"$venv/bin/python" "$root/scripts/aws_calls.py" "$tls_port" "http://127.0.0.1:$DDB_PORT" \
  "http://127.0.0.1:$MOTO_PORT" "$state/aws-calls-tls.jsonl" --tls "$state/tls.crt" "$state/tls.key" \
  >"$state/aws-calls-tls.log" 2>&1 &
pids+=($!)
for ((i = 0; ; i++)); do
  curl -s -o /dev/null --cacert "$state/ca.crt" "https://localhost:$tls_port/moto-api/data.json" && break
  ((i < 100)) || { say "the HTTPS recorder did not start"; exit 1; }
  sleep 0.1
done

cp "$root/bench/node/index.mjs" "$root/.tools/bench-node/index.mjs"
# The functions trust the throw-away CA through SSL_CERT_FILE, inside a bundle of the system's
# roots: in AWS a start parses the system bundle (about 140 roots), and so does it here.
cat /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt 2>/dev/null >"$state/ca-bundle.crt" || true
cat "$state/ca.crt" >>"$state/ca-bundle.crt"
export BENCH_MODE="$mode" BENCH_BIN_DIR="${BENCH_BIN_DIR:-$bin_dir}" BENCH_OUT="$state" BENCH_CA="$state/ca-bundle.crt"
export TABLE_DEFINITION="$state/table.json"
export NODE_BASELINE="$root/.tools/bench-node/index.mjs"
export DDB_URL="http://127.0.0.1:$DDB_PORT" MOTO_URL="http://127.0.0.1:$MOTO_PORT" VOICE_URL="http://127.0.0.1:$VOICE_PORT"
export CALLS_URL="http://127.0.0.1:$CALLS_PORT" TLS_URL="https://127.0.0.1:$tls_port"
"$venv/bin/python" "$root/bench/bench.py"

if [[ "$update" == 1 ]]; then
  "$venv/bin/python" - "$root/BENCHMARKS.md" "$state/report.md" <<'EOF'
import sys
doc, report = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
text = open(doc, encoding="utf-8").read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w", encoding="utf-8").write(f"{head}{begin}\n{report}{end}{tail}")
EOF
  say "BENCHMARKS.md updated"
fi
