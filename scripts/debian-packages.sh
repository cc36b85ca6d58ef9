#!/bin/sh
# Owns installing what the project needs from Debian's packages: only what is missing, one apt-get update first, sudo when not root.
#
#   sh scripts/debian-packages.sh redis-server:redis-server redis-cli:redis-tools   (COMMAND:PACKAGE ...)
#
# A command already on the PATH counts, however it got there (a Redis built from source will do).
set -eu

missing=""
for pair in "$@"; do
  command=${pair%%:*}
  package=${pair#*:}
  if ! command -v "$command" >/dev/null 2>&1; then
    case " $missing " in
      *" $package "*) ;;
      *) missing="$missing $package" ;;
    esac
  fi
done
[ -n "$missing" ] || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/debian-packages.sh: this is not a Debian-like system (no apt-get); install these yourself:$missing" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing from Debian's packages:$missing" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
