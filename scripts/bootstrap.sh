#!/usr/bin/env bash
# Installs the local tools into the project's own ignored folder (.tools/), pinned, idempotent.
# Re-running it does nothing when the pinned versions are already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
# One bootstrap at a time (dev.sh, test.sh and CI may start together): the second waits, then
# finds everything in place.
exec 9>"$tools/.lock"
flock 9

log() { printf '[bootstrap] %s\n' "$*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || { log "missing '$1': $2"; exit 1; }
}
need cargo "install Rust (rustup)"
need python3 "install Python 3.11+"
need npm "install Node.js 20+"
need java "install a Java 17 runtime (DynamoDB Local is a jar): apt-get install -y openjdk-17-jre-headless"

# A venv per requirements file; a stamp of the file's hash makes re-runs free.
make_venv() {
  local name=$1 req=$2 stamp
  stamp="$tools/$name/.stamp-$(sha256sum "$req" | cut -c1-16)"
  if [[ -f "$stamp" ]]; then return; fi
  log "installing $(basename "$req") into .tools/$name"
  rm -rf "${tools:?}/$name"
  python3 -m venv "$tools/$name"
  "$tools/$name/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  touch "$stamp"
}
make_venv venv "$root/tools/requirements-local.txt"
make_venv fuzz "$root/tools/requirements-fuzz.txt"
if [[ "${TWOSTEP_SKIP_SAM:-}" != 1 ]]; then
  make_venv sam "$root/tools/requirements-sam.txt"
fi

jar="$tools/node/node_modules/amplify-dynamodb-simulator/emulator/DynamoDBLocal.jar"
stamp="$tools/node/.stamp-$(sha256sum "$root/tools/package.json" | cut -c1-16)"
if [[ ! -f "$jar" || ! -f "$stamp" ]]; then
  log "installing DynamoDB Local into .tools/node"
  mkdir -p "$tools/node"
  cp "$root/tools/package.json" "$tools/node/package.json"
  (cd "$tools/node" && npm install --silent --no-audit --no-fund >/dev/null)
  touch "$stamp"
fi
[[ -f "$jar" ]] || { log "DynamoDB Local jar not found at $jar"; exit 1; }

# The benchmark's Node.js baseline (scripts/bench.sh asks for it with --bench): AWS SDK v3.
if [[ "${1:-}" == --bench ]]; then
  stamp="$tools/bench-node/.stamp-$(sha256sum "$root/bench/node/package-lock.json" | cut -c1-16)"
  if [[ ! -f "$stamp" ]]; then
    log "installing the Node.js baseline's AWS SDK v3 clients into .tools/bench-node"
    rm -rf "$tools/bench-node" && mkdir -p "$tools/bench-node"
    cp "$root/bench/node/package.json" "$root/bench/node/package-lock.json" "$tools/bench-node/"
    (cd "$tools/bench-node" && npm ci --silent --no-audit --no-fund >/dev/null)
    touch "$stamp"
  fi
fi

# The browser tests drive Debian's chromium (test.sh asks for it with --browser).
# $CHROMIUM names another Chromium-based browser to use instead (GitHub's runners have Chrome).
if [[ "${1:-}" == --browser && -n "${CHROMIUM:-}" ]]; then
  [[ -x "$CHROMIUM" ]] || { log "CHROMIUM=$CHROMIUM is not an executable"; exit 1; }
elif [[ "${1:-}" == --browser ]] && ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian's chromium for the browser tests"
  sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq chromium >/dev/null 2>&1 ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null; }
  command -v chromium >/dev/null 2>&1 || { log "chromium did not install"; exit 1; }
fi
log "tools ready in .tools/"
