#!/usr/bin/env bash
# Installs the Debian packages a real single-node Kubernetes needs on a CI
# machine of this kind (Debian, root, no container engine, no image registry):
# the Docker engine (builds images), containerd/runc/CNI plugins (run pods),
# debootstrap (the base images, since no registry can be reached) and the
# netfilter tools kube-proxy and the CNI chain call. Idempotent.
set -euo pipefail
PACKAGES=(docker.io containerd runc containernetworking-plugins debootstrap
  conntrack iptables nftables socat ethtool ebtables iproute2 openssl gcc libc6-dev
  procps psmisc)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "the real node needs root to install: ${missing[*]}" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Packages only: no service is started here (policy-rc.d), the harness starts its own.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}"
