#!/bin/sh
# jongodb-setup.sh: jongodb, the second MongoDB test peer, installed when
# missing and cached.
#
# npm's @jongodb/memory-server-bin-linux-x64-gnu (a native binary) at the
# version pinned by jongodb/package-lock.json, installed with `npm ci` under
#   ${GENBOX_PEER_CACHE:-/var/cache/genbox-peers}/node/<sha256 of the lock>/
# and reused by later runs (no network then). Debian's nodejs and npm come
# through apt-get (as root) when missing.
#
# Last line of output:  JONGODB_BIN=<path of the jongodb binary>
set -eu

HERE=$(cd "$(dirname "$0")/jongodb" && pwd)
CACHE="${GENBOX_PEER_CACHE:-/var/cache/genbox-peers}/node"
PKG=@jongodb/memory-server-bin-linux-x64-gnu
# messages as TAP comments: the tests that run this pass them on
log() { echo "# jongodb-setup: $*" >&2; }

sum=$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -c1-16)
DIR="$CACHE/$sum"
BIN="$DIR/node_modules/$PKG/bin/jongodb"
ok() { [ -x "$BIN" ] && [ -f "$DIR/.ok" ]; }
if ! ok; then
	missing=""
	dpkg-query -W -f='${Status}\n' nodejs 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing nodejs"
	# Debian's nodejs comes without npm; NodeSource's bundles it
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
	if [ -n "$missing" ]; then
		if [ "$(id -u)" != 0 ]; then
			log "missing packages; as root run: apt-get install$missing"
			exit 1
		fi
		log "apt-get install$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q --no-install-recommends $missing >/dev/null ||
			{ apt-get update -q >/dev/null &&
			  apt-get install -y -q --no-install-recommends $missing >/dev/null; }
	fi
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	if ! ok; then
		log "npm ci $PKG into $DIR"
		rm -rf "$DIR"
		mkdir -p "$DIR"
		cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/"
		st=0
		out=$(cd "$DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
			--cache "$CACHE/.npm" 2>&1) || st=$?
		printf '%s\n' "$out" | sed 's/^/# /' >&2
		[ "$st" = 0 ] || { log "npm ci failed ($st)"; exit 1; }
		[ -x "$BIN" ] || { log "no executable $BIN after npm ci"; exit 1; }
		touch "$DIR/.ok"
	fi
fi
echo "JONGODB_BIN=$BIN"
