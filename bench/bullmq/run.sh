#!/usr/bin/env bash
# BullMQ no-op baseline: run.sh N [C ...]
# Installs node/npm (apt) and the pinned npm deps if needed, then for each
# worker concurrency C (default 200), in the order given: starts a private
# redis-server on a free loopback port in its own temp dir, runs noop.js with
# N jobs at concurrency C, stops redis. Passes noop.js's result lines through:
#   bullmq jobs=N concurrency=C seconds=S jobs_per_sec=R
# A concurrency that fails is said on stderr and has no line; the others still
# run, and the exit status is then 1.
set -euo pipefail

usage() { echo "usage: $0 N [C ...]   (number of jobs, worker concurrencies)" >&2; exit 2; }
N=${1:-}
[[ "$N" =~ ^[1-9][0-9]*$ ]] || usage
shift
CONCS=("$@")
((${#CONCS[@]})) || CONCS=(200)
for c in "${CONCS[@]}"; do [[ "$c" =~ ^[1-9][0-9]*$ ]] || usage; done
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
# Debian 12's nodejs is 18; bullmq and noop.js need no newer one.
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
  echo "error: node $(node --version) is older than 18" >&2; exit 1
fi

# 2. npm deps from the lock file; redo when the lock file changed since the
#    last `npm ci` (its hash is stored inside node_modules).
lockhash=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$HERE/node_modules/.lock-sha256" 2>/dev/null)" != "$lockhash" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund >&2)
  echo "$lockhash" > "$HERE/node_modules/.lock-sha256"
fi

# 3. A private redis per concurrency, in its own dir under a temp dir that is
#    removed on any exit.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bullmq-bench.XXXXXX")
REDIS_PID=
stop_redis() {
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  REDIS_PID=
}
cleanup() {
  stop_redis
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # ask the kernel for an unused loopback port
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_redis DIR: sets PORT and REDIS_PID, or returns 1. The port may be taken
# between free_port and redis binding it: then redis exits, and we retry with
# another port.
start_redis() {
  local dir=$1 p
  mkdir -p "$dir"
  PORT=
  for _ in 1 2 3 4 5; do
    p=$(free_port)
    redis-server --bind 127.0.0.1 --port "$p" --save '' --appendonly yes \
      --appendfsync everysec --dir "$dir" --daemonize no >"$dir/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do # up to ~10 s for PING
      if [ "$(redis-cli -h 127.0.0.1 -p "$p" ping 2>/dev/null)" = PONG ]; then PORT=$p; return 0; fi
      kill -0 "$REDIS_PID" 2>/dev/null || break # redis died (port in use?)
      sleep 0.1
    done
    stop_redis
  done
  echo "error: could not start redis-server" >&2; tail -n 20 "$dir/redis.log" >&2 || true
  return 1
}

# 4. The benchmark, one concurrency after the other; stdout: the result lines.
status=0
i=0
for c in "${CONCS[@]}"; do
  i=$((i + 1))
  if ! start_redis "$TMP/run$i"; then status=1; continue; fi
  if ! node "$HERE/noop.js" --port "$PORT" --jobs "$N" --concurrency "$c"; then
    echo "error: noop.js failed at concurrency $c" >&2; status=1
  fi
  stop_redis
done
exit $status
