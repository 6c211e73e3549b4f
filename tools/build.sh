#!/usr/bin/env bash
# Builds the pinned Go binaries the tests need (etcd, kube-apiserver,
# kube-controller-manager, helm) once into the shared cache, keyed by the
# checksum of the wrapper module that pins them. A warm cache makes this a no-op.
# Usage: tools/build.sh [etcd|kube|helm|promtool|all]   -> prints the bin dir
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${COINSTREAM_CACHE:-$HOME/.cache/coinstream}
# shellcheck source=../src/coinstream/versions.env
source "$here/../src/coinstream/versions.env"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

key() { cat "$here/$1/go.mod" "$here/$1/go.sum" | sha256sum | cut -c1-12; }

build_module() {  # module-dir output-subdir package...
  local mod=$1 out=$cache/bin/$1-$(key "$1"); shift
  if [ -f "$out/.done" ]; then echo "$out"; return; fi
  mkdir -p "$out"
  # Parallel test runs share the cache: the second caller waits for the first build.
  exec 9>"$out.lock"; flock 9
  if [ -f "$out/.done" ]; then echo "$out"; return; fi
  echo "building $* into $out (cold build: several minutes on 2 cores)" >&2
  for pkg in "$@"; do
    (cd "$here/$mod" && go build -trimpath -ldflags=-s -o "$out/" "$pkg") >&2
  done
  touch "$out/.done"; echo "$out"
}

build_helm() {
  local out=$cache/bin/helm-$HELM_VERSION
  mkdir -p "$out"; exec 9>"$out.lock"; flock 9
  if [ ! -f "$out/.done" ]; then
    echo "building helm $HELM_VERSION" >&2
    GOBIN=$out go install -trimpath -ldflags=-s "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
    touch "$out/.done"
  fi
  echo "$out"
}

build_promtool() {
  local out=$cache/bin/promtool-$PROMETHEUS_VERSION
  mkdir -p "$out"; exec 9>"$out.lock"; flock 9
  if [ ! -f "$out/.done" ]; then
    echo "building promtool $PROMETHEUS_VERSION" >&2
    GOBIN=$out go install -trimpath -ldflags=-s "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" >&2
    touch "$out/.done"
  fi
  echo "$out"
}

case ${1:-all} in
  etcd) build_module etcd . ;;
  kube) build_module kube k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager ;;
  helm) build_helm ;;
  promtool) build_promtool ;;
  all) build_module etcd . >/dev/null; build_module kube k8s.io/kubernetes/cmd/kube-apiserver \
         k8s.io/kubernetes/cmd/kube-controller-manager >/dev/null; build_helm >/dev/null; build_promtool >/dev/null; echo "$cache/bin" ;;
  *) echo "usage: $0 [etcd|kube|helm|promtool|all]" >&2; exit 2 ;;
esac
