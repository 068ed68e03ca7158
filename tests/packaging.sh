#!/usr/bin/env bash
# Packaging, as a user installs mcpcell: `cargo package` (the crate builds from the packaged
# files alone, and its --version names the commit from the package's VCS record), `cargo
# install --path .`, and the Debian package: `dpkg -i` installs the binary, man pages,
# completions and /etc/mcpcell/profiles, a real MCP server runs from it, and `dpkg --purge`
# leaves none of its files behind. Needs root, dpkg and cargo-deb (.ci/run installs it);
# tests/run.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "packaging: needs root (dpkg -i)" >&2; exit 1; }
TARGET=x86_64-unknown-linux-gnu
DEPS="${MCPCELL_DEPS:-/opt/mcpcell-deps}"
T="$(mktemp -d /var/tmp/mcpcell-pkg.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "packaging: FAILED: $*" >&2; exit 1; }
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
COMMIT="$(git rev-parse --short=12 HEAD 2>/dev/null || true)"

echo "--- cargo package --locked"
touch "$T/mark"
cargo package --locked
PKG="target/package/mcpcell-$VERSION"
[ -f "$PKG/.cargo_vcs_info.json" ] || [ -z "$COMMIT" ] || fail "no VCS record in the package"
# The binary the verification built from the packaged files alone (no .git there); cargo
# builds it in the workspace's target directory.
BUILT="$(find "target/$TARGET/debug/mcpcell" -newer "$T/mark" 2>/dev/null || true)"
[ -n "$BUILT" ] || fail "cargo package built no binary"
V="$("$BUILT" --version)"
echo "packaged crate: $V"
case "$V" in
  "mcpcell $VERSION (commit ${COMMIT:-unknown}"*) ;;
  *) fail "the packaged crate's --version does not name commit ${COMMIT:-unknown}: $V" ;;
esac
# Nothing of the fuzz corpus, benchmarks or tests in the crate.
if cargo package --locked --list | grep -E '^(fuzz|bench|tests|integration)/'; then
  fail "the crate includes development files"
fi

echo "--- cargo install --locked --path ."
cargo install --locked --path . --root "$T/root"
"$T/root/bin/mcpcell" --version
(cd / && "$T/root/bin/mcpcell" run --profile default /bin/true) || fail "the installed binary cannot run a command"

echo "--- the Debian package"
DEB="$(scripts/deb.sh)"
echo "built $DEB"
dpkg-deb --info "$DEB"
dpkg-deb --contents "$DEB"
dpkg -i "$DEB"
dpkg -L mcpcell >"$T/files"
[ "$(command -v mcpcell)" = /usr/bin/mcpcell ] || fail "mcpcell is not on PATH as /usr/bin/mcpcell"
/usr/bin/mcpcell --version
[ -d /etc/mcpcell/profiles ] || fail "no /etc/mcpcell/profiles"
ls /usr/share/man/man1/mcpcell.1* /usr/share/man/man1/mcpcell-run.1* >/dev/null || fail "no man pages"
if command -v man >/dev/null; then man -w mcpcell >/dev/null || fail "man mcpcell finds no page"; fi
bash --norc -c 'source /usr/share/bash-completion/completions/mcpcell && complete -p mcpcell' >/dev/null \
  || fail "the bash completion does not load"
[ -f /usr/share/zsh/vendor-completions/_mcpcell ] && [ -f /usr/share/fish/vendor_completions.d/mcpcell.fish ] \
  || fail "no zsh or fish completion"
# A real MCP server from the installed binary, as a client starts it: initialize answered.
SERVER="$DEPS/node/node_modules/@modelcontextprotocol/server-memory/dist/index.js"
if [ -f "$SERVER" ]; then
  ANSWER="$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"packaging","version":"1"}}}' \
    | (cd / && timeout 60 /usr/bin/mcpcell run --profile node --allow-read "$DEPS/node" node "$SERVER") | head -n 1)"
  case "$ANSWER" in
    *'"serverInfo"'*) echo "the memory server answered initialize through the installed mcpcell" ;;
    *) fail "no initialize answer from the memory server: $ANSWER" ;;
  esac
else
  [ "${CI:-}" = true ] && fail "no memory server in $DEPS (integration/setup.sh installs it)"
  (cd / && /usr/bin/mcpcell run --profile default /bin/true) || fail "the installed binary cannot run a command"
fi

# What of the package's files is still there (directories it shares with other packages,
# /usr/bin or /usr/share/man/man1, stay).
leftovers() {
  local f
  while read -r f; do
    if [ -e "$f" ] && [ ! -d "$f" ]; then echo "$f"; fi
  done <"$T/files"
  for d in /etc/mcpcell /usr/share/doc/mcpcell; do [ -e "$d" ] && echo "$d"; done
  return 0
}
# The control: `dpkg -r` keeps the configuration files (/etc/mcpcell/profiles/README), and
# the check sees them; then `--purge` must leave nothing.
dpkg -r mcpcell
leftovers >"$T/after-remove"
grep -qx /etc/mcpcell/profiles/README "$T/after-remove" \
  || fail "the leftover check did not see the conffile dpkg -r keeps: $(cat "$T/after-remove")"
dpkg --purge mcpcell
dpkg -s mcpcell >/dev/null 2>&1 && fail "still installed after dpkg --purge"
left="$(leftovers)"
[ -z "$left" ] || fail "left behind after dpkg --purge: $left"
echo "packaging: ok (cargo package, cargo install, dpkg -i, a server run, dpkg --purge left nothing)"
