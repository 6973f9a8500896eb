#!/usr/bin/env bash
# BullMQ no-op baseline: run.sh N
# Installs node/npm (apt) and the pinned npm deps if needed, starts a private
# redis-server on a free loopback port in a temp dir, runs noop.js with N jobs
# and passes its single result line through:
#   bullmq jobs=N seconds=S jobs_per_sec=R
set -euo pipefail

N=${1:-}
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 N   (number of jobs)" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# 1. Tools. A fresh Debian 12 gets Node.js 18 + npm 9 from apt.
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
if ((${#missing[@]})); then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >&2
fi

# 2. npm deps from the lock file; redo when the lock file changed since the
#    last `npm ci` (its hash is stored inside node_modules).
lockhash=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$HERE/node_modules/.lock-sha256" 2>/dev/null)" != "$lockhash" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund >&2)
  echo "$lockhash" > "$HERE/node_modules/.lock-sha256"
fi

# 3. Private redis in a temp dir; removed on any exit.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bullmq-bench.XXXXXX")
REDIS_PID=
cleanup() {
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # ask the kernel for an unused loopback port
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# The port may be taken between free_port and redis binding it: then redis
# exits, and we retry with another port.
PORT=
for _ in 1 2 3 4 5; do
  p=$(free_port)
  redis-server --bind 127.0.0.1 --port "$p" --save '' --appendonly yes \
    --appendfsync everysec --dir "$TMP" --daemonize no >"$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 100); do # up to ~10 s for PING
    if [ "$(redis-cli -h 127.0.0.1 -p "$p" ping 2>/dev/null)" = PONG ]; then PORT=$p; break; fi
    kill -0 "$REDIS_PID" 2>/dev/null || break # redis died (port in use?)
    sleep 0.1
  done
  [ -n "$PORT" ] && break
  kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=
done
if [ -z "$PORT" ]; then
  echo "error: could not start redis-server" >&2; tail -n 20 "$TMP/redis.log" >&2 || true; exit 1
fi

# 4. The benchmark; its stdout is the result line.
node "$HERE/noop.js" --port "$PORT" --jobs "$N"
