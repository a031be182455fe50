#!/usr/bin/env bash
# Bundles the four binaries the images ship into build/image/app/build/ (ESM, one file per
# binary plus shared chunks, Node 24 target), with the same esbuild settings as `make build`
# (packages/core/src/bin/build-bundles.ts), which bundles only ztunnel and the benchmark pair:
#   controller.mjs  ← packages/controller/src/main.ts
#   ztunnel.mjs     ← packages/ztunnel/src/main.ts
#   node-agent.mjs  ← packages/cni-plugin/src/agent/main.ts
#   waypoint.mjs    ← packages/waypoint/src/main.ts
#   Release/ambit_netns.node  the native addon, where the bundle's loader looks for it
#                   (`../build/Release/` relative to the file that holds packages/netns/src/native.ts)
# An entry whose main.ts does not exist yet is left out (and said so). Prints the output directory.
#   scripts/with-toolchain bash images/bundle.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/build/image/app/build
ESBUILD=$ROOT/packages/core/node_modules/.bin/esbuild
ADDON=$ROOT/packages/netns/build/Release/ambit_netns.node
log() { echo "[images/bundle] $*" >&2; }

[ -x "$ESBUILD" ] || { log "esbuild missing: run scripts/with-toolchain true (pnpm install)"; exit 1; }
[ -f "$ADDON" ] || { log "$ADDON missing: the netns addon builds at pnpm install (needs a C compiler)"; exit 1; }

entries=()
for e in controller=packages/controller/src/main.ts ztunnel=packages/ztunnel/src/main.ts \
  node-agent=packages/cni-plugin/src/agent/main.ts waypoint=packages/waypoint/src/main.ts; do
  if [ -f "$ROOT/${e#*=}" ]; then entries+=("$e"); else log "skipping ${e%%=*}: ${e#*=} does not exist yet"; fi
done

rm -rf "$OUT"
mkdir -p "$OUT"
(cd "$ROOT" && "$ESBUILD" "${entries[@]}" --bundle --splitting --format=esm --platform=node \
  --target=node24 --outdir="$OUT" --out-extension:.js=.mjs '--chunk-names=chunks/[name]-[hash]' \
  "--banner:js=import { createRequire as __ambitCreateRequire } from 'node:module'; const require = __ambitCreateRequire(import.meta.url);" \
  --log-level=warning)
# The addon's loader may land in an entry file (build/X.mjs: ../build/Release = build/Release) or
# in a shared chunk (build/chunks/X.mjs: ../build/Release = build/build/Release): copy it for both.
mkdir -p "$OUT/Release"
cp "$ADDON" "$OUT/Release/"
if grep -lq 'ambit_netns.node' "$OUT"/chunks/*.mjs 2> /dev/null; then
  mkdir -p "$OUT/chunks/../build/Release"
  cp "$ADDON" "$OUT/build/Release/"
fi
log "bundled ${entries[*]%%=*} into $OUT"
echo "$OUT"
