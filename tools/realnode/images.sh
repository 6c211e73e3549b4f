#!/usr/bin/env bash
# Every image the platform runs, built here (no registry): the project's own images from the
# local Debian bases (tools/realnode/base-images.sh) passed as build arguments, and the Strimzi
# 1.2.0 operator and Kafka 4.3.1 images from $COINSTREAM_SHARED/strimzi under their upstream tags.
# Jars come from Maven Central through the coinstream Maven cache. Warm runs reuse every layer.
# Usage: images.sh [app|spark|notebook|project|strimzi|standins|all]...   (prints each image it made
# or found; `project` is app + spark + notebook)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../.." && pwd)
CACHE=${COINSTREAM_CACHE:-$HOME/.cache/coinstream}
SHARED=${COINSTREAM_SHARED:-$repo/../shared}
eval "$(bash "$here/dockerd.sh" env)"
export DOCKER_BUILDKIT=0  # BuildKit would fetch its Dockerfile frontend from a registry
TAG=${IMAGE_TAG:-$(bash "$repo/kind/run.sh" image-tag)}
HIVE_TAG=${HIVE_IMAGE_TAG:-4.0.1-coinstream0.1.0}
PY_BASE=coinstream-local/python:3.11-bookworm
MVN_BASE=coinstream-local/maven:3-jdk17
MVN=(mvn -B -q -Dmaven.repo.local="$CACHE/m2")

have() { docker image inspect "$1" >/dev/null 2>&1; }
build() {  # tag dockerfile context [build args...]
  local tag=$1 file=$2 ctx=$3; shift 3
  local args=()
  for a in "$@"; do args+=(--build-arg "$a"); done
  local t0=$SECONDS
  echo "building $tag" >&2
  docker build --network host -q -t "$tag" -f "$file" "${args[@]}" "$ctx" >/dev/null
  echo "built $tag in $((SECONDS - t0)) s" >&2
  echo "$tag"
}

app() {
  build "ghcr.io/coinstream/coinstream:$TAG" "$repo/images/app/Dockerfile" "$repo" "PYTHON_IMAGE=$PY_BASE"
}
spark() {
  build "ghcr.io/coinstream/coinstream-spark:$TAG" "$repo/images/spark/Dockerfile" "$repo" \
    "PYTHON_IMAGE=$PY_BASE" "MAVEN_IMAGE=$MVN_BASE"
}
notebook() {
  build "ghcr.io/coinstream/notebook:$TAG" "$repo/images/notebook/Dockerfile" "$repo" "PYTHON_IMAGE=$PY_BASE"
}

strimzi() {
  local src=$SHARED/strimzi op=quay.io/strimzi/operator:1.2.0 kafka=quay.io/strimzi/kafka:1.2.0-kafka-4.3.1
  [ -d "$src/operator" ] || { echo "no Strimzi rebuild in $src (set COINSTREAM_SHARED)" >&2; exit 1; }
  if ! have strimzi/base:1.2.0; then
    # The base of ../shared/strimzi/base: Debian 13 + OpenJDK 21 (Strimzi 1.2.0 is built for 21).
    local ctx; ctx=$(mktemp -d)
    cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM coinstream-local/debian:trixie
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openjdk-21-jre-headless openssl tini tzdata ca-certificates \
      net-tools hostname findutils tar gzip unzip curl gawk procps \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /tmp/* \
 && ln -s /usr/lib/jvm/java-21-openjdk-amd64 /usr/lib/jvm/jre-21
ENV JAVA_HOME=/usr/lib/jvm/jre-21
DOCKERFILE
    build strimzi/base:1.2.0 "$ctx/Dockerfile" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  if ! have "$op"; then
    local ctx; ctx=$(mktemp -d); cp -a "$src/operator/." "$ctx/"; chmod -R u+w "$ctx"
    "${MVN[@]}" -f "$src/operator/thirdparty-libs.pom.xml" dependency:copy-dependencies -DexcludeTransitive=true \
      -Dmdep.prependGroupId=true -DoutputDirectory="$ctx/opt/strimzi/lib" >&2
    sed -i 's#^FROM strimzi/base:latest#FROM strimzi/base:1.2.0#' "$ctx/Dockerfile"
    build "$op" "$ctx/Dockerfile" "$ctx" >/dev/null; rm -rf "$ctx"
  fi
  echo "$op"
  if ! have "$kafka"; then
    local ctx; ctx=$(mktemp -d); cp -a "$src/kafka/." "$ctx/"; chmod -R u+w "$ctx"
    local libs=$ctx/opt/kafka/libs; mkdir -p "$libs" "$ctx/opt/kafka/plugins" "$ctx/opt/cruise-control/libs"
    "${MVN[@]}" -f "$src/recipes/kafka-4.3.1-dist-libs.pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$libs" >&2
    local tp; tp=$(mktemp -d)
    "${MVN[@]}" -f "$src/recipes/kafka-thirdparty-libs-4.3.x.pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$tp" >&2
    for j in "$tp"/*.jar; do [ -e "$libs/$(basename "$j")" ] || cp "$j" "$libs/"; done
    rm -rf "$tp"
    mv "$ctx/opt/kafka/libs-strimzi/"*.jar "$libs/"; rmdir "$ctx/opt/kafka/libs-strimzi"
    "${MVN[@]}" dependency:copy -Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:1.0.1 \
      -DoutputDirectory="$ctx/opt/prometheus-jmx-exporter" >&2
    rm -f "$ctx/opt/prometheus-jmx-exporter/FROM-MAVEN.txt"
    sed -i 's#^FROM strimzi/base:latest#FROM strimzi/base:1.2.0#' "$ctx/Dockerfile"
    build "$kafka" "$ctx/Dockerfile" "$ctx" >/dev/null; rm -rf "$ctx"
  fi
  echo "$kafka"
}

standins() {  # images/standins/*: upstream names and tags, built from the same versions
  local sop=ghcr.io/kubeflow/spark-operator/controller:2.5.2
  if ! have "$sop"; then
    local ctx bin; ctx=$(mktemp -d); bin=$(bash "$repo/tools/build.sh" spark-operator)
    cp "$repo/images/standins/spark-operator/Dockerfile" "$bin/spark-operator" "$ctx/"
    build "$sop" "$ctx/Dockerfile" "$ctx" "SPARK_IMAGE=ghcr.io/coinstream/coinstream-spark:$TAG" >/dev/null
    rm -rf "$ctx"
  fi
  echo "$sop"
}

[ $# -gt 0 ] || set -- all
for target in "$@"; do
  case $target in
    app|spark|notebook|strimzi|standins) "$target" ;;
    project) app; spark; notebook ;;
    all) app; spark; notebook; strimzi; standins ;;
    *) echo "usage: $0 [app|spark|notebook|project|strimzi|standins|all]..." >&2; exit 2 ;;
  esac
done
