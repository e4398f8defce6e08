#!/usr/bin/env bash
# Writes vendor/regex and vendor/regex-cache: the crates.io packages of the versions below,
# with the changes vendor/README.md lists and nothing else.
#   scripts/vendor.sh           re-creates them (after a version change here)
#   scripts/vendor.sh --check   fails if the committed copies differ from what it writes
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
regex=1.13.2
regex_cache=0.2.1
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/vendor.sh [--check]" >&2; exit 2 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The packages, through cargo's own registry client (checksums checked against the index).
mkdir -p "$work/fetch/src"
: > "$work/fetch/src/lib.rs"
cat > "$work/fetch/Cargo.toml" <<TOML
[package]
name = "vendor-fetch"
version = "0.0.0"
edition = "2021"

[dependencies]
regex = "=$regex"
regex-cache = "=$regex_cache"

[workspace]
TOML
(cd "$work/fetch" && cargo fetch --quiet)
cache="${CARGO_HOME:-$HOME/.cargo}/registry/cache"
unpack() { # name version
  local file
  file="$(find "$cache" -name "$1-$2.crate" | head -n 1)"
  [ -n "$file" ] || { echo "vendor.sh: $1-$2.crate not found under $cache" >&2; exit 1; }
  tar -xzf "$file" -C "$work"
}
unpack regex "$regex"
unpack regex-cache "$regex_cache"

out="$work/vendor"
mkdir -p "$out/regex" "$out/regex-cache"
cp -R "$work/regex-$regex"/{Cargo.toml,LICENSE-APACHE,LICENSE-MIT,README.md,src} "$out/regex/"
cp -R "$work/regex-cache-$regex_cache"/{Cargo.toml,LICENSE,README.md,src} "$out/regex-cache/"
cp "$root/vendor/README.md" "$out/README.md"

python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]

def edit(path, old, new, count=1):
    with open(f"{out}/{path}") as f:
        text = f.read()
    found = text.count(old) if isinstance(old, str) else len(old.findall(text))
    if found != count:
        sys.exit(f"vendor.sh: {path}: expected {count} of {old!r}, found {found}")
    text = text.replace(old, new) if isinstance(old, str) else old.sub(new, text)
    with open(f"{out}/{path}", "w") as f:
        f.write(text)

# regex: default features without the search optimisations and with three Unicode tables.
edit("regex/Cargo.toml",
     'default = [\n    "std",\n    "perf",\n    "unicode",\n    "regex-syntax/default",\n]',
     'default = [\n    "std",\n    "unicode-case",\n    "unicode-gencat",\n    "unicode-perl",\n]')
# The package's own test suite is not copied; profiles only matter in a workspace root.
edit("regex/Cargo.toml", '[[test]]\nname = "integration"\npath = "tests/lib.rs"\n\n', "")
edit("regex/Cargo.toml", re.compile(r"\n\[profile\.[a-z]+\]\n(?:[a-z-]+ = [^\n]+\n)*"), "", 4)

# regex-cache: no syntax check when a pattern is stored, and no regex-syntax 0.6.
check = re.compile(r"\t\tif let Err\(err\) = syntax::Parser::new\(\)\.parse\([^)]*\) \{\n"
                   r"\t\t\treturn Err\(Error::Syntax\(err\.to_string\(\)\)\);\n\t\t\}\n")
for path in ("regex-cache/src/cache.rs", "regex-cache/src/lazy.rs"):
    edit(path, check, "\t\t// twostep: no syntax check (vendor/README.md).\n", 2)
    edit(path, "use crate::syntax;\n", "")
edit("regex-cache/src/lib.rs", "extern crate regex_syntax as syntax;\n", "")
edit("regex-cache/Cargo.toml", '\n[dependencies.regex-syntax]\nversion = "0.6"\n', "\n")
PY

if [ "$check" = 1 ]; then
  if diff -r "$out" "$root/vendor"; then
    echo "vendor: regex $regex and regex-cache $regex_cache are the crates.io packages with vendor/README.md's changes"
  else
    echo "vendor.sh --check: vendor/ differs from the crates.io packages with vendor/README.md's changes" >&2
    exit 1
  fi
else
  rm -rf "$root/vendor/regex" "$root/vendor/regex-cache"
  cp -R "$out/regex" "$out/regex-cache" "$root/vendor/"
  echo "vendor: wrote vendor/regex ($regex) and vendor/regex-cache ($regex_cache)"
fi
