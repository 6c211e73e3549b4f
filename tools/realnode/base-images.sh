#!/usr/bin/env bash
# The base images, made here without any registry: Debian rootfs trees from debootstrap
# (cached as tarballs under $COINSTREAM_CACHE/realnode/rootfs) imported into the private
# Docker engine, and the pod sandbox image from a static pause.c.
#   coinstream-local/debian:bookworm   Debian 12 minbase (Python 3.11, OpenJDK 17)
#   coinstream-local/debian:trixie     Debian 13 minbase (OpenJDK 21 for Strimzi 1.2.0)
#   registry.k8s.io/pause:3.10         the sandbox image containerd is configured with
#   coinstream-local/python:3.11-bookworm, coinstream-local/maven:3-jdk17
#                                      images/local/*.Dockerfile on top (apt from the mirror)
# Needs root, debootstrap and a Debian mirror (the host's apt source). Usage: base-images.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../.." && pwd)
CACHE=${COINSTREAM_CACHE:-$HOME/.cache/coinstream}
eval "$(bash "$here/dockerd.sh" env)"
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS=$CACHE/realnode/rootfs
mkdir -p "$ROOTFS"

have() { docker image inspect "$1" >/dev/null 2>&1; }

rootfs() {  # suite -> tarball (built once; a cold debootstrap takes a few minutes)
  local suite=$1 tar=$ROOTFS/debian-$1-minbase.tar
  if [ ! -s "$tar" ]; then
    exec 8>"$tar.lock"; flock 8
    if [ ! -s "$tar" ]; then
      local dir; dir=$(mktemp -d "$ROOTFS/.build-$suite.XXXX")
      echo "debootstrap $suite from $MIRROR" >&2
      debootstrap --variant=minbase "$suite" "$dir/root" "$MIRROR" >"$dir.log" 2>&1 \
        || { tail -20 "$dir.log" >&2; exit 1; }
      rm -rf "$dir/root/var/cache/apt/archives/"*.deb "$dir/root/var/lib/apt/lists/"*
      tar --numeric-owner -C "$dir/root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
      rm -rf "$dir" "$dir.log"
    fi
    exec 8>&-
  fi
  echo "$tar"
}

for suite in bookworm trixie; do
  img=coinstream-local/debian:$suite
  have "$img" || docker import -c 'ENV LANG=C.UTF-8' "$(rootfs "$suite")" "$img" >/dev/null
done

if ! have registry.k8s.io/pause:3.10; then
  tmp=$(mktemp -d)
  gcc -static -O2 -o "$tmp/pause" "$repo/images/local/pause.c"
  tar -C "$tmp" -cf - pause | docker import -c 'ENTRYPOINT ["/pause"]' - registry.k8s.io/pause:3.10 >/dev/null
  rm -rf "$tmp"
fi

# The classic builder: BuildKit would fetch its Dockerfile frontend from a registry.
export DOCKER_BUILDKIT=0
build_local() {  # tag dockerfile
  have "$1" && return 0
  local ctx; ctx=$(mktemp -d)
  cp "$repo/images/local/$2" "$ctx/Dockerfile"
  # The machine's trusted CAs (a TLS-inspecting proxy's CA among them, where there is one), one
  # file each, so pip, apt and Java inside the builds trust what the host trusts.
  mkdir -p "$ctx/host-ca"
  awk -v dir="$ctx/host-ca" '/BEGIN CERT/{n++} n{print > (dir "/ca-" n ".crt")}' /etc/ssl/certs/ca-certificates.crt
  docker build --network host -q -t "$1" "$ctx" >/dev/null
  rm -rf "$ctx"
}
build_local coinstream-local/python:3.11-bookworm python.Dockerfile
build_local coinstream-local/maven:3-jdk17 maven.Dockerfile
