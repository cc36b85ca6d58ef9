#!/bin/sh
# Owns finding the Node a job needs: the machine's when it fits, else a private copy from the npm registry.
#
#   sh scripts/node.sh 22.22+ CMD...   runs CMD with a Node >= 22.22 first on PATH (npm test: ava 8 and
#                                      testcontainers 12 need it); installs Node 24 if there is none
#   sh scripts/node.sh 20 CMD...       the same with a Node 20.x (the oldest the proxy claims to run on)
#   sh scripts/node.sh 20              prints that node's path instead
#
# A private copy is npm's node-linux-<arch>@<major> package (a real Node binary), installed once into
# ${XDG_CACHE_HOME:-$HOME/.cache}/redis-cache-proxy/node<major> and reused from then on.
set -eu

if [ $# -eq 0 ]; then
  echo "usage: sh scripts/node.sh VERSION [COMMAND...]   (VERSION: 22.22+ for at least 22.22, 20 for 20.x)" >&2
  exit 2
fi
want=$1
shift
case $want in
  *+) install=24 ;;
  *) install=$want ;;
esac

# Whether node binary $1 is the version wanted; an absent or broken one is not.
fits() {
  "$1" -e '
    const want = process.argv[1];
    const [major, minor] = process.versions.node.split(".").map(Number);
    const [wantMajor, wantMinor = 0] = want.replace("+", "").split(".").map(Number);
    const ok = want.endsWith("+") ? major > wantMajor || (major === wantMajor && minor >= wantMinor) : major === wantMajor;
    process.exit(ok ? 0 : 1);' "$want" >/dev/null 2>&1
}

found=""
# Every node on the PATH, in order: under `npm test` a newer one may come first and the machine's later.
old_ifs=$IFS
IFS=:
for dir in $PATH; do
  if [ -n "$dir" ] && [ -x "$dir/node" ] && fits "$dir/node"; then
    found="$dir/node"
    break
  fi
done
IFS=$old_ifs

if [ -z "$found" ]; then
  prefix="${XDG_CACHE_HOME:-$HOME/.cache}/redis-cache-proxy/node$install"
  if ! fits "$prefix/bin/node"; then
    case $(uname -m) in
      x86_64) arch=x64 ;;
      aarch64) arch=arm64 ;;
      *) arch=$(uname -m) ;;
    esac
    echo "scripts/node.sh: no Node $want on the PATH ($(node --version 2>/dev/null || echo 'no node')); installing node-linux-$arch@$install into $prefix" >&2
    mkdir -p "$(dirname "$prefix")"
    tmp=$(mktemp -d "$prefix.XXXXXX")
    npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error "node-linux-$arch@$install" >&2
    # Another run may have installed it meanwhile (and be using it): then keep that one.
    if ! fits "$prefix/bin/node"; then
      rm -rf "$prefix"
      mv -T "$tmp/node_modules/node-linux-$arch" "$prefix" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    if ! fits "$prefix/bin/node"; then
      echo "scripts/node.sh: $prefix/bin/node is not a working Node $want" >&2
      exit 1
    fi
  fi
  found="$prefix/bin/node"
fi

if [ $# -eq 0 ]; then
  echo "$found"
else
  PATH="$(dirname "$found"):$PATH"
  export PATH
  exec "$@"
fi
