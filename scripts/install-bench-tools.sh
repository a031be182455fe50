#!/usr/bin/env bash
# Installs the native load tools the benchmarks use, only from package registries:
#   wrk, iperf3, haproxy  — Debian packages (apt-get)
#   fortio                — Go module, built with `go install` into $AMBIT_CACHE/bin
# Idempotent: does nothing when everything is already present. Prints the fortio path's
# directory on stdout so callers can put it on PATH:  PATH="$(bash scripts/install-bench-tools.sh):$PATH"
set -euo pipefail

AMBIT_CACHE="${AMBIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambit}"
# fortio v1.69+ depends on grol.io/grol, a module this machine's Go proxy does not serve;
# v1.68.2 is the newest release without it (load generation and echo server are the same).
FORTIO_VERSION="v1.68.2"
GO="${GO:-/usr/local/go/bin/go}"
BIN="$AMBIT_CACHE/bin"

log() { printf '[bench-tools] %s\n' "$*" >&2; }

missing_debs=()
for pair in wrk:wrk iperf3:iperf3 haproxy:haproxy; do
  cmd="${pair%%:*}" pkg="${pair##*:}"
  command -v "$cmd" > /dev/null 2>&1 || missing_debs+=("$pkg")
done

if [ "${#missing_debs[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing_debs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  # No service is started (policy-rc.d in containers); the benchmark runs its own haproxy processes.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >&2
fi

# The installed fortio's version is kept in a stamp so a change of FORTIO_VERSION rebuilds it.
stamp="$BIN/.fortio-version"
if [ ! -x "$BIN/fortio" ] || [ "$(cat "$stamp" 2> /dev/null)" != "$FORTIO_VERSION" ]; then
  if [ ! -x "$GO" ]; then
    GO="$(command -v go || true)"
    [ -n "$GO" ] || { log "Go is needed to install fortio (looked at /usr/local/go/bin/go and PATH)"; exit 1; }
  fi
  log "installing fortio $FORTIO_VERSION from the Go module proxy into $BIN"
  mkdir -p "$BIN"
  GOBIN="$BIN" GOFLAGS=-mod=mod "$GO" install "fortio.org/fortio@$FORTIO_VERSION" >&2
  echo "$FORTIO_VERSION" > "$stamp"
fi

echo "$BIN"
