#!/usr/bin/env bash
# Builds the pinned Go binaries the tests need (etcd, kube-apiserver,
# kube-controller-manager, helm, promtool; for the real node also kubelet, kube-scheduler,
# kube-proxy, kubectl, CoreDNS, kube-network-policies and the spark-operator)
# once into the shared cache, keyed by the checksum of the module that pins them.
# A warm cache makes this a no-op.
# Usage: tools/build.sh [etcd|kube|node|coredns|netpol|spark-operator|helm|promtool|all]   -> prints the bin dir
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${COINSTREAM_CACHE:-$HOME/.cache/coinstream}
# shellcheck source=../src/coinstream/versions.env
source "$here/../src/coinstream/versions.env"
# Without these the binaries call themselves v0.0.0-master, and helm refuses charts whose
# kubeVersion constraint the API server's version does not meet.
KUBE_LDFLAGS="-s -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34 \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=34"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

key() { cat "$here/$1/go.mod" "$here/$1/go.sum" | sha256sum | cut -c1-12; }

build_module() {  # module-dir output-subdir package...
  local mod=$1 out=$cache/bin/${OUT_NAME:-$1}-$(key "$1"); shift
  if [ -f "$out/.done" ]; then echo "$out"; return; fi
  mkdir -p "$out"
  # Parallel test runs share the cache: the second caller waits for the first build.
  exec 9>"$out.lock"; flock 9
  if [ -f "$out/.done" ]; then echo "$out"; return; fi
  echo "building $* into $out (cold build: several minutes on 2 cores)" >&2
  for pkg in "$@"; do
    (cd "$here/$mod" && go build -trimpath -ldflags="${LDFLAGS:--s}" -o "$out/" "$pkg") >&2
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

# A main package of a module at a pinned version, built inside that module (its own go.mod,
# replace directives and go.sum, verified against the checksum database by `go mod download`).
# VERSION_VAR: the Go variable upstream's release build sets to the tag (else the binary reports a
# placeholder version); it is part of the cache key.
build_upstream() {  # name module version package-dir
  local name=$1 module=$2 version=$3 pkg=$4 out=$cache/bin/$1-$3${VERSION_VAR:+-stamped}
  if [ -f "$out/.done" ]; then echo "$out"; return; fi
  mkdir -p "$out"; exec 9>"$out.lock"; flock 9
  if [ ! -f "$out/.done" ]; then
    echo "building $module@$version (cold build: several minutes on 2 cores)" >&2
    local info dir ldflags=-s
    info=$(cd "$here" && go mod download -json "$module@$version")
    dir=$(sed -n 's/.*"Dir": "\(.*\)",/\1/p' <<<"$info")
    [ -d "$dir" ] || { echo "go mod download $module@$version failed" >&2; exit 1; }
    [ -z "${VERSION_VAR:-}" ] || ldflags="-s -X $VERSION_VAR=$version ${VERSION_LDFLAGS:-}"
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$out/$name" "$pkg") >&2
    touch "$out/.done"
  fi
  echo "$out"
}

case ${1:-all} in
  etcd) build_module etcd . ;;
  kube) LDFLAGS=$KUBE_LDFLAGS build_module kube k8s.io/kubernetes/cmd/kube-apiserver \
          k8s.io/kubernetes/cmd/kube-controller-manager ;;
  node) LDFLAGS=$KUBE_LDFLAGS OUT_NAME=kube-node build_module kube k8s.io/kubernetes/cmd/kubelet \
          k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl ;;
  coredns) build_upstream coredns github.com/coredns/coredns "$COREDNS_VERSION" . ;;
  netpol) build_upstream kube-network-policies sigs.k8s.io/kube-network-policies "$KUBE_NETWORK_POLICIES_VERSION" ./cmd ;;
  # Upstream's Makefile sets k8s.io/component-base/version.* (pkg/version prints them at start).
  spark-operator) VERSION_VAR=k8s.io/component-base/version.gitVersion \
      VERSION_LDFLAGS="-X k8s.io/component-base/version.gitTreeState=clean" \
      build_upstream spark-operator github.com/kubeflow/spark-operator/v2 "$SPARK_OPERATOR_VERSION" ./cmd/operator ;;
  helm) build_helm ;;
  promtool) build_promtool ;;
  all) build_module etcd . >/dev/null; LDFLAGS=$KUBE_LDFLAGS build_module kube k8s.io/kubernetes/cmd/kube-apiserver \
         k8s.io/kubernetes/cmd/kube-controller-manager >/dev/null; build_helm >/dev/null; build_promtool >/dev/null; echo "$cache/bin" ;;
  *) echo "usage: $0 [etcd|kube|node|coredns|netpol|spark-operator|helm|promtool|all]" >&2; exit 2 ;;
esac
