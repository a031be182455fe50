#!/usr/bin/env bash
# Builds ambit-cni as a Node single executable application (SEA), so it runs on nodes that have no
# Node.js: packages/cni-plugin/build/ambit-cni.
#   1. esbuild bundles src/plugin/main.ts (TypeScript, several files) into one CommonJS script;
#      Node 24's SEA runs one CommonJS file and has no `node --build-sea` yet.
#   2. node --experimental-sea-config makes the blob; postject injects it into a copy of node.
# Cached: rebuilds only when the plugin's sources, this script, node or esbuild change.
# Run with the toolchain on PATH:  scripts/with-toolchain bash packages/cni-plugin/scripts/build-sea.sh
set -euo pipefail

PKG="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$PKG/build"
OUT="$BUILD/ambit-cni"
BIN="$PKG/node_modules/.bin"
NODE="$(command -v node)"
log() { printf '[build-sea] %s\n' "$*" >&2; }

[ -x "$BIN/esbuild" ] && [ -x "$BIN/postject" ] || {
  log "esbuild/postject missing: run pnpm install first"
  exit 1
}

# Everything the executable is made of; a change to any of them rebuilds it.
sources=("$PKG/src/cni-wire.ts" "$PKG"/src/plugin/*.ts "${BASH_SOURCE[0]}")
hash="$(
  {
    for f in "${sources[@]}"; do
      case "$f" in *.test.ts) continue ;; esac
      printf '%s\n' "$f"
      cat "$f"
    done
    "$NODE" --version
    "$BIN/esbuild" --version
  } | sha256sum | cut -d' ' -f1
)"
stamp="$BUILD/.ambit-cni.sha256"
if [ -x "$OUT" ] && [ "$(cat "$stamp" 2> /dev/null)" = "$hash" ]; then
  log "up to date: $OUT"
  exit 0
fi

mkdir -p "$BUILD"
rm -f "$stamp"
log "bundling src/plugin/main.ts"
"$BIN/esbuild" "$PKG/src/plugin/main.ts" --bundle --platform=node --format=cjs \
  --target=node24 --log-level=warning --outfile="$BUILD/ambit-cni.cjs"

cat > "$BUILD/sea-config.json" << JSON
{
  "main": "$BUILD/ambit-cni.cjs",
  "output": "$BUILD/ambit-cni.blob",
  "disableExperimentalSEAWarning": true,
  "useCodeCache": true
}
JSON
log "making the SEA blob with $("$NODE" --version)"
"$NODE" --experimental-sea-config "$BUILD/sea-config.json" > /dev/null

tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$NODE" "$tmp"
chmod u+w "$tmp"
"$BIN/postject" "$tmp" NODE_SEA_BLOB "$BUILD/ambit-cni.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 > /dev/null
mv "$tmp" "$OUT"
printf '%s\n' "$hash" > "$stamp"
log "built $OUT"
