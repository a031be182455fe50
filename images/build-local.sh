#!/usr/bin/env bash
# Builds Ambit's four container images without Docker or a registry, the way the local e2e cluster
# builds its own (e2e/scripts/images.sh): a root filesystem in a directory, packed into an OCI
# image with umoci, saved as an OCI archive; with --import, loaded into the containerd of every
# node of the running local cluster (e2e/scripts/cluster.sh up).
#
#   scripts/with-toolchain bash images/build-local.sh            build; print "<ref> <archive>" per image
#   scripts/with-toolchain bash images/build-local.sh --import   build, then import into every node
#   (make images = --import)
#
# Images, all tagged with the chart's appVersion (charts/ambit/Chart.yaml), two layers each: the
# machine's Node 24 runtime with the shared libraries it links (the same for all four, so
# containerd stores it once), then the application:
#   localhost/ambit/controller:<v>  /app/build/controller.mjs   user 65532
#   localhost/ambit/ztunnel:<v>     /app/build/ztunnel.mjs       root (SYS_ADMIN/NET_ADMIN given by the chart)
#   localhost/ambit/node-agent:<v>  /app/build/node-agent.mjs    root; + /opt/ambit/ambit-cni, nft, nsenter, ip
#   localhost/ambit/waypoint:<v>    /app/build/waypoint.mjs      user 1337
# /app/build holds the bundles of images/bundle.sh (every binary's entry and their shared chunks,
# ~10 MB) and the netns addon. Install with:
#   helm install ambit charts/ambit -n ambit-system --create-namespace \
#     --set image.registry=localhost/ambit --set image.pullPolicy=Never
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/e2e/scripts/lib.sh" # log, die, E2E_DIR, CACHE
IMAGES=$CACHE/images/ambit
VERSION=$(awk -F"'" '/^appVersion:/ {print $2}' "$ROOT/charts/ambit/Chart.yaml")
[ -n "$VERSION" ] || die "no appVersion in charts/ambit/Chart.yaml"
import=
[ "${1:-}" = --import ] && import=1

command -v umoci > /dev/null || die "umoci is missing (apt-get install umoci)"
NODE=$(command -v node) || die "run under scripts/with-toolchain (Node 24 on PATH)"
case "$("$NODE" --version)" in v24.*) ;; *) die "Node 24 expected, got $("$NODE" --version)" ;; esac

# Inputs: the bundles and the ambit-cni single executable (both cached by their own scripts).
APP=$(bash "$ROOT/images/bundle.sh")
CNI=$ROOT/packages/cni-plugin/build/ambit-cni
bash "$ROOT/packages/cni-plugin/scripts/build-sea.sh" >&2
[ -x "$CNI" ] || die "$CNI was not built"

mkdir -p "$IMAGES"
WORK=$(mktemp -d "$IMAGES/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# copy_libs <root> <binary>: every shared library ldd lists for the binary, at its path.
copy_libs() {
  local root=$1 lib
  for lib in $(ldd "$2" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || cp --parents -L "$lib" "$root/"
  done
}
# copy_with_libs <root> <binary...>: binaries at their paths, and their libraries.
copy_with_libs() {
  local root=$1 bin
  shift
  for bin in "$@"; do
    cp --parents -L "$bin" "$root/"
    copy_libs "$root" "$bin"
  done
}

# The base layer: Node, its libraries, users, /tmp.
BASE=$WORK/base
mkdir -p "$BASE/usr/local/bin" "$BASE/tmp" "$BASE/etc"
chmod 1777 "$BASE/tmp"
cp "$NODE" "$BASE/usr/local/bin/node"
copy_libs "$BASE" "$NODE"
printf 'root:x:0:0:root:/root:/sbin/nologin\nambit:x:1337:1337:ambit:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' > "$BASE/etc/passwd"
printf 'root:x:0:\nambit:x:1337:\nnonroot:x:65532:\n' > "$BASE/etc/group"

# pack <name> <app rootfs dir> <user> <entry .mjs>: an OCI archive, base layer + app layer.
pack() {
  local name=$1 app=$2 user=$3 entry=$4 oci=$WORK/oci-$1 archive=$IMAGES/$1-$VERSION.tar
  umoci init --layout "$oci"
  umoci new --image "$oci:$VERSION"
  umoci unpack --image "$oci:$VERSION" "$WORK/bundle-$name" > /dev/null
  cp -a "$BASE/." "$WORK/bundle-$name/rootfs/"
  umoci repack --image "$oci:$VERSION" "$WORK/bundle-$name"
  cp -a "$app/." "$WORK/bundle-$name/rootfs/"
  umoci repack --image "$oci:$VERSION" "$WORK/bundle-$name"
  umoci config --image "$oci:$VERSION" --architecture amd64 --os linux \
    --config.user "$user" --config.workingdir / \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin --config.env NODE_ENV=production \
    --config.entrypoint /usr/local/bin/node --config.entrypoint "/app/build/$entry" \
    --config.label "org.opencontainers.image.title=ambit-$name" \
    --config.label "org.opencontainers.image.version=$VERSION"
  umoci gc --layout "$oci"
  tar -C "$oci" -cf "$archive.tmp" .
  mv "$archive.tmp" "$archive"
  echo "localhost/ambit/$name:$VERSION $archive"
}

app_dir() {
  local dir=$WORK/app-$1
  mkdir -p "$dir/app"
  cp -a "$APP" "$dir/app/build"
  echo "$dir"
}

list=$(
  pack controller "$(app_dir controller)" 65532:65532 controller.mjs
  pack ztunnel "$(app_dir ztunnel)" 0:0 ztunnel.mjs
  pack waypoint "$(app_dir waypoint)" 1337:1337 waypoint.mjs
  agent=$(app_dir node-agent)
  mkdir -p "$agent/opt/ambit"
  cp "$CNI" "$agent/opt/ambit/ambit-cni"
  copy_with_libs "$agent" /usr/sbin/nft /usr/sbin/ip /usr/bin/nsenter
  # Libraries the base layer already has need not be in this one.
  (cd "$BASE" && find . -type f) | while read -r f; do [ -f "$agent/$f" ] && rm -f "$agent/$f"; done
  pack node-agent "$agent" 0:0 node-agent.mjs
)
echo "$list"

if [ -n "$import" ]; then
  CONTAINERD_BIN=$("$ROOT/e2e/scripts/build-k8s.sh" --where containerd | tail -1)
  found=
  for sock in "$E2E_DIR"/nodes/*/containerd.sock; do
    [ -S "$sock" ] || continue
    found=1
    while read -r ref archive; do
      "$CONTAINERD_BIN/ctr" -a "$sock" -n k8s.io images import --base-name "${ref%:*}" "$archive" > /dev/null
    done <<< "$list"
    log "imported $(wc -l <<< "$list") images into $(basename "$(dirname "$sock")")"
  done
  [ -n "$found" ] || die "no running local cluster node under $E2E_DIR/nodes (e2e/scripts/cluster.sh up)"
fi
