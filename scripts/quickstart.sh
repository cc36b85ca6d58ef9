#!/usr/bin/env bash
# Quick start, from a fresh clone: installs what is missing, then runs the proxy in the background in front of your Redis, or of a throwaway one with sample keys.
#
#   bash scripts/quickstart.sh        start (stopping what an earlier run started first)
#   bash scripts/quickstart.sh stop   stop what it started
#
# Needs Node.js 20 or later and npm on the PATH. Installs redis-server, redis-tools and curl from Debian's
# packages when missing, then runs npm ci. The Redis the proxy uses is the one .config and the environment
# name (REDIS_URL, or REDIS_HOST and REDIS_PORT; 127.0.0.1:6379 by default): if it answers, the proxy uses it
# and nothing is written into it. If not, a throwaway redis-server is started on 127.0.0.1 (port 6379 when
# free), keeping its data in a temporary folder, with a few sample keys (Batman=Superhero, ...); your
# settings are left as they are, and only the proxy started here is pointed at it. Logs, and what `stop`
# stops, are kept in .quickstart/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
state=.quickstart
mkdir -p "$state"

say() { printf 'quickstart: %s\n' "$*" | tee -a "$state/quickstart.log"; }
fail() {
  say "$*"
  exit 1
}
# Whether pid $1 is alive and its command line mentions $2 (a pid recorded long ago may be someone else's now).
running() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"; }
# Whether pid $1 exists and has not exited (a zombie has: only its parent has not collected it yet).
exists() { kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }
# Waits up to $2 seconds for pid $1 to exit; fails if it does not.
wait_gone() {
  local deadline=$((SECONDS + $2))
  while exists "$1"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

stop() {
  if [ ! -f "$state/started" ]; then
    say "nothing to stop (no $state/started)"
    return 0
  fi
  local npm_pid="" redis_pid="" redis_dir="" redis_port="" shutdown_seconds=10
  # shellcheck source=/dev/null # written by start below
  . "$state/started"
  if running "$npm_pid" npm; then
    # npm passes SIGTERM on to the proxy (npm start execs node), which answers what it received, then exits.
    kill -TERM "$npm_pid"
    if wait_gone "$npm_pid" $((${shutdown_seconds%.*} + 5)); then
      say "stopped the proxy (npm start, pid $npm_pid)"
    else
      kill -KILL -- "-$npm_pid" 2>/dev/null || true
      say "the proxy (npm start, pid $npm_pid) did not stop on SIGTERM; killed it"
    fi
  fi
  if running "$redis_pid" redis-server; then
    kill -TERM "$redis_pid"
    wait_gone "$redis_pid" 10 || kill -KILL "$redis_pid" 2>/dev/null || true
    say "stopped the throwaway Redis (pid $redis_pid, port $redis_port)"
  fi
  if [ -n "$redis_dir" ] && [ -d "$redis_dir" ]; then
    rm -rf "$redis_dir"
    say "removed its data ($redis_dir)"
  fi
  rm -f "$state/started"
}

case "${1:-start}" in
  stop)
    stop
    exit 0
    ;;
  start) ;;
  *)
    echo "usage: bash scripts/quickstart.sh [start|stop]" >&2
    exit 2
    ;;
esac

: >"$state/quickstart.log"
say "started $(date -u +%Y-%m-%dT%H:%M:%SZ) in $here"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  fail "needs Node.js 20 or later and npm on the PATH"
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  fail "needs Node.js 20 or later; this is $(node --version)"
fi

[ ! -f "$state/started" ] || {
  say "stopping what the previous run started"
  stop
}

sh scripts/debian-packages.sh redis-server:redis-server redis-cli:redis-tools redis-benchmark:redis-tools curl:curl openssl:openssl

say "npm ci"
npm ci --no-audit --no-fund --loglevel=error

# What the proxy will use, read as the proxy reads it; a bad .config stops here with the proxy's own message.
plan=$(node --import tsx scripts/quickstart-plan.ts) || fail "the settings above need fixing first"
connect_host="" resp_port="" http_port="" shutdown_seconds="" redis="" redis_answers="" throwaway_port=""
resp_port_free="" http_port_free=""
eval "$plan"
[ "$resp_port" != 0 ] && [ "$http_port" != 0 ] || fail "RESP_PORT and PROXY_PORT must be fixed ports for the quick start, not 0"
[ "$resp_port_free" = yes ] || fail "port $resp_port (RESP_PORT) is taken by another program: stop it, or choose another port (RESP_PORT=6381 bash scripts/quickstart.sh)"
[ "$http_port_free" = yes ] || fail "port $http_port (PROXY_PORT) is taken by another program: stop it, or choose another port (PROXY_PORT=5001 bash scripts/quickstart.sh)"

proxy_env=()
redis_pid="" redis_dir="" redis_port=""
if [ "$redis_answers" = yes ]; then
  say "a Redis answers at $redis (from .config and the environment): the proxy uses it; nothing is written into it, so there are no sample keys"
else
  redis_port=$throwaway_port
  redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/redis-cache-proxy-quickstart.XXXXXX")
  say "no Redis answers at $redis (from .config and the environment); starting a throwaway redis-server on 127.0.0.1:$redis_port, data in $redis_dir, log in $state/redis.log"
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$redis_dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$here/$state/redis.log"
  for _ in $(seq 50); do
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  redis_pid=$(cat "$redis_dir/redis.pid")
  redis-cli -p "$redis_port" mset Batman Superhero Robin Sidekick Joker Villain Alfred Butler >/dev/null
  say "sample keys written into the throwaway Redis: Batman=Superhero Robin=Sidekick Joker=Villain Alfred=Butler"
  # Wins over REDIS_URL, REDIS_HOST and REDIS_PORT in .config and the environment, for this proxy only.
  proxy_env=("REDIS_URL=redis://127.0.0.1:$redis_port")
fi

# npm start in its own session, so that closing this terminal or Ctrl-C in it later leaves it running.
setsid env "${proxy_env[@]}" npm start >"$state/proxy.log" 2>&1 </dev/null &
npm_pid=$!
{
  printf 'npm_pid=%q\nredis_pid=%q\nredis_dir=%q\nredis_port=%q\nshutdown_seconds=%q\n' \
    "$npm_pid" "$redis_pid" "$redis_dir" "$redis_port" "$shutdown_seconds"
} >"$state/started"
say "npm start (pid $npm_pid), log in $state/proxy.log; waiting for it to answer on $connect_host:$resp_port"

deadline=$((SECONDS + 60))
until [ "$(redis-cli -h "$connect_host" -p "$resp_port" ping 2>/dev/null)" = PONG ]; do
  if ! exists "$npm_pid" || [ $SECONDS -ge $deadline ]; then
    say "the proxy did not start; the end of $state/proxy.log:"
    tail -n 20 "$state/proxy.log" | sed 's/^/    /'
    stop
    exit 1
  fi
  sleep 0.2
done
say "the proxy answers, $SECONDS s after this script started"

if [ -n "$redis_port" ]; then
  got=$(redis-cli -h "$connect_host" -p "$resp_port" get Batman)
  if [ "$got" != Superhero ]; then
    say "GET Batman through the proxy answered '$got', not Superhero; the end of $state/proxy.log:"
    tail -n 20 "$state/proxy.log" | sed 's/^/    /'
    stop
    exit 1
  fi
  cat <<EOF | tee -a "$state/quickstart.log"

The proxy listens on $connect_host:$resp_port (Redis protocol) and $connect_host:$http_port (HTTP), in front of the throwaway Redis on 127.0.0.1:$redis_port.
Try:
  redis-cli -p $resp_port get Batman                 # through the proxy → "Superhero"
  curl 'localhost:$http_port/query?key=Batman'        # the same read over HTTP → Superhero
  redis-cli -p $redis_port set Batman 'Dark Knight'    # straight to Redis: Redis tells the proxy (CLIENT TRACKING), the next read through it says "Dark Knight"
Logs: $state/proxy.log, $state/redis.log
Stop both: bash scripts/quickstart.sh stop   (or kill $npm_pid, npm start, which passes SIGTERM on to the proxy; and $redis_pid, the Redis)
EOF
else
  cli="redis-cli"
  [ "$redis" = "redis://127.0.0.1:6379/0" ] || cli="redis-cli -u $redis"
  cat <<EOF | tee -a "$state/quickstart.log"

The proxy listens on $connect_host:$resp_port (Redis protocol) and $connect_host:$http_port (HTTP), in front of your Redis at $redis.
Nothing was written into it. Try:
  $cli set Batman Superhero              # straight to your Redis
  redis-cli -p $resp_port get Batman                 # through the proxy → "Superhero"
  curl 'localhost:$http_port/query?key=Batman'        # the same read over HTTP → Superhero
Log: $state/proxy.log
Stop: bash scripts/quickstart.sh stop   (or kill $npm_pid, npm start, which passes SIGTERM on to the proxy)
EOF
fi
