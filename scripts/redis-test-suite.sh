#!/usr/bin/env bash
# Owns running Redis's own test suite (its tests/ directory, from the redis/redis repository at the tag of the local redis-server) against the proxy in front of a private redis-server.
#
#   bash scripts/redis-test-suite.sh /path/to/redis/tests-parent [unit/type/string unit/expire …]
#
# The first argument is a directory holding Redis's `tests/` (e.g. a checkout of redis/redis at
# 7.0.15, or `git archive 7.0.15 tests | tar -x -C dir`). Needs tclsh (apt-get install tcl). Not part
# of `npm test`: the suite needs a copy of Redis's sources, and some of its tests check what a proxy
# cannot be (replication, DEBUG, ACL users, CLIENT PAUSE/TRACKING; see README, "What the proxy does
# with each command"), and its tests that expect PING to answer BUSY while a script runs fail here
# (the proxy answers PING itself) and leave the script running. Each file runs on its own; a summary
# line per file, logs in $LOGS.
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${1:?usage: bash scripts/redis-test-suite.sh <dir holding Redis tests/> [unit/… …]}
shift
units=("$@")
if [ ${#units[@]} -eq 0 ]; then
  units=(unit/printver unit/dump unit/protocol unit/keyspace unit/scan unit/info-command unit/type/string unit/type/incr
    unit/type/list unit/type/list-2 unit/type/list-3 unit/type/set unit/type/zset unit/type/hash unit/type/stream
    unit/type/stream-cgroups unit/sort unit/expire unit/other unit/multi unit/quit unit/pubsub unit/scripting unit/functions
    unit/bitops unit/bitfield unit/geo unit/hyperloglog unit/introspection unit/introspection-2 unit/lazyfree)
fi
LOGS=${LOGS:-$(mktemp -d)}

# Lines of the run's log that report `kind` ([ok], [err], [exception]), its colours stripped.
count() { sed 's/\x1b\[[0-9;]*m//g' "$2" | grep -c "^\[$1\]" || true; }
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
redis_port=$(free_port)
resp_port=$(free_port)
http_port=$(free_port)
redis-server --port "$redis_port" --save '' --appendonly no --daemonize no >"$LOGS/redis.log" 2>&1 &
redis_pid=$!
REDIS_PORT=$redis_port RESP_PORT=$resp_port PROXY_PORT=$http_port LOG_LEVEL=warn node src/start.mjs </dev/null >"$LOGS/proxy.log" 2>&1 &
proxy_pid=$!
trap 'kill "$proxy_pid" "$redis_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do redis-cli -p "$resp_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "Redis on $redis_port, the proxy on $resp_port; logs in $LOGS"
for unit in "${units[@]}"; do
  [ -f "$suite/tests/$unit.tcl" ] || { echo "$unit: not in $suite/tests"; continue; }
  log="$LOGS/$(echo "$unit" | tr / _).log"
  (cd "$suite" && timeout 600 tclsh tests/test_helper.tcl --host 127.0.0.1 --port "$resp_port" --clients 1 \
    --tags -needs:repl --tags -needs:debug --tags -needs:save --tags -slow --tags -needs:config-maxmemory \
    --single "$unit") >"$log" 2>&1 && status=passed || status=FAILED
  # A script or function the run left busy would fail every file after it.
  redis-cli -p "$redis_port" script kill >/dev/null 2>&1 || true
  redis-cli -p "$redis_port" function kill >/dev/null 2>&1 || true
  echo "$unit: $status, $(count ok "$log") ok, $(count err "$log") err, $(count exception "$log") exception"
done
