#!/usr/bin/env bash
# Builds the local cluster's container images without a registry or a Docker engine: a root
# filesystem in a directory, packed into an OCI image with umoci, saved as an OCI archive under
# ${AMBIT_CACHE}/images, later imported into each node's containerd (node.sh).
#
#   images.sh            build what is missing; prints one "<image ref> <archive>" line per image
#
# Images:
#   localhost/ambit/pause:1          the pod sandbox (e2e/k8s-build/pause)
#   localhost/ambit/coredns:<ver>    CoreDNS, static
#   localhost/ambit/node:<ver>       the machine's Node 24 runtime and the shared libraries it links
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGES=$CACHE/images
REPO_ROOT=$(cd "$E2E_SCRIPTS/../.." && pwd)
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

# pack <archive> <rootfs dir> <tag> <entrypoint json array>: an OCI archive of the directory whose
# index names the manifest <tag> (containerd's import turns that into <base name>:<tag>).
pack() {
  local archive=$1 rootfs=$2 tag=$3 entrypoint=$4 work
  work=$(mktemp -d "$IMAGES/.build.XXXXXX")
  umoci init --layout "$work/oci"
  umoci new --image "$work/oci:$tag"
  umoci unpack --image "$work/oci:$tag" "$work/bundle" > /dev/null
  cp -a "$rootfs/." "$work/bundle/rootfs/"
  umoci repack --image "$work/oci:$tag" "$work/bundle"
  local args=()
  while read -r e; do args+=(--config.entrypoint "$e"); done < <(echo "$entrypoint" | tr -d '[]"' | tr ',' '\n')
  umoci config --image "$work/oci:$tag" --architecture amd64 --os linux "${args[@]}" \
    --config.workingdir / --config.env PATH=/usr/local/bin:/usr/bin:/bin
  umoci gc --layout "$work/oci"
  tar -C "$work/oci" -cf "$archive.tmp" .
  mv "$archive.tmp" "$archive"
  rm -rf "$work"
}

image_pause() {
  local archive=$IMAGES/pause-1.tar
  if [ ! -s "$archive" ]; then
    log "image pause: building"
    local root
    root=$(mktemp -d "$IMAGES/.root.XXXXXX")
    (cd "$E2E_SCRIPTS/../k8s-build/pause" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$root/pause" .)
    pack "$archive" "$root" 1 '["/pause"]'
    rm -rf "$root"
  fi
  echo "localhost/ambit/pause:1 $archive"
}

image_coredns() {
  local bin v archive
  bin=$("$E2E_SCRIPTS/build-k8s.sh" coredns | tail -1)
  v=$(basename "$(dirname "$bin")")
  v=${v#coredns-}
  archive=$IMAGES/coredns-$v.tar
  if [ ! -s "$archive" ]; then
    log "image coredns $v: building"
    local root
    root=$(mktemp -d "$IMAGES/.root.XXXXXX")
    cp "$bin/coredns" "$root/coredns"
    pack "$archive" "$root" "$v" '["/coredns"]'
    rm -rf "$root"
  fi
  echo "localhost/ambit/coredns:$v $archive"
}

# The Node runtime the repository's toolchain installs (scripts/toolchain.sh), with the shared
# libraries `ldd` lists, so pods can run the repository's .ts entry points.
image_node() {
  local node v archive
  node=$("$REPO_ROOT/scripts/with-toolchain" sh -c 'command -v node')
  v=$("$node" --version)
  v=${v#v}
  archive=$IMAGES/node-$v.tar
  if [ ! -s "$archive" ]; then
    log "image node $v: building"
    local root lib
    root=$(mktemp -d "$IMAGES/.root.XXXXXX")
    mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/etc"
    chmod 1777 "$root/tmp"
    cp "$node" "$root/usr/local/bin/node"
    for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
      cp --parents -L "$lib" "$root/"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
    pack "$archive" "$root" "$v" '["/usr/local/bin/node"]'
    rm -rf "$root"
  fi
  echo "localhost/ambit/node:$v $archive"
}

mkdir -p "$IMAGES"
image_pause
image_coredns
image_node
