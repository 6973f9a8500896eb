#!/bin/sh
# setup.sh: what the browser test needs, installed when missing and cached.
#
# Debian's chromium, nodejs and npm (through apt-get, as root), and npm's
# playwright-core at the version pinned by package-lock.json, installed with
# `npm ci` under
#   ${GENBOX_PEER_CACHE:-/var/cache/genbox-peers}/node/<sha256 of the lock>/
# and reused by later runs. playwright-core never downloads a browser: the
# test points it at /usr/bin/chromium.
#
# Last line of output:  BROWSER_NODE_MODULES=<folder holding playwright-core>
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE="${GENBOX_PEER_CACHE:-/var/cache/genbox-peers}/node"
# messages as TAP comments: the tests that run this pass them on
log() { echo "# browser-setup: $*" >&2; }

missing=""
for p in chromium nodejs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
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

sum=$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -c1-16)
DIR="$CACHE/$sum"
ok() { [ -f "$DIR/node_modules/playwright-core/package.json" ] && [ -f "$DIR/.ok" ]; }
if ! ok; then
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	if ! ok; then
		log "npm ci playwright-core into $DIR"
		rm -rf "$DIR"
		mkdir -p "$DIR"
		cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/"
		st=0
		out=$(cd "$DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
			--cache "$CACHE/.npm" 2>&1) || st=$?
		printf '%s\n' "$out" | sed 's/^/# /' >&2
		[ "$st" = 0 ] || { log "npm ci failed ($st)"; exit 1; }
		touch "$DIR/.ok"
	fi
fi
echo "BROWSER_NODE_MODULES=$DIR/node_modules"
