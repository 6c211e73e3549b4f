#!/usr/bin/env bash
# Every image the platform runs, built here (no registry): the project's own images from the
# local Debian bases (tools/realnode/base-images.sh) passed as build arguments, and the Strimzi
# 1.2.0 operator and Kafka 4.3.1 images from $COINSTREAM_SHARED/strimzi under their upstream tags.
# Jars come from Maven Central through the coinstream Maven cache. Warm runs reuse every layer.
# Usage: images.sh [app|spark|notebook|project|strimzi|standins|lakehouse|<one stand-in>|all]...
# (prints each image it made or found; `project` is app + spark + notebook, `standins` the
# spark-operator + `lakehouse`: hadoop, postgres, hive-metastore, trino)
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

# images/standins/*: upstream names and tags, built from the same software versions (what differs
# is listed in tests/system/realnode/values-standins.yaml). Contexts are assembled here from the
# coinstream cache, so each build sends only what its Dockerfile copies.
PY=${PYTHON:-$repo/.venv/bin/python}
POSTGRES_JDBC=org.postgresql:postgresql:42.7.8
POSTGRES_JDBC_SHA256=2a32a9dcbc42d67a50ad3a0de5efd102c8d2be46720045f2cbd6689f160ab7c7
standin_ctx() {  # name -> a temp dir with images/standins/<name>/*
  local ctx; ctx=$(mktemp -d); cp -a "$repo/images/standins/$1/." "$ctx/"; echo "$ctx"
}
spark_operator() {
  # Always rebuilt (a few seconds from the layer cache): the binary may have changed.
  local sop=ghcr.io/kubeflow/spark-operator/controller:2.5.2 ctx bin
  ctx=$(standin_ctx spark-operator); bin=$(bash "$repo/tools/build.sh" spark-operator)
  cp "$bin/spark-operator" "$ctx/"
  build "$sop" "$ctx/Dockerfile" "$ctx" "SPARK_IMAGE=ghcr.io/coinstream/coinstream-spark:$TAG" >/dev/null
  rm -rf "$ctx"; echo "$sop"
}
hadoop() {
  local img=apache/hadoop:3.5.0 ctx jars
  ctx=$(standin_ctx hadoop)
  jars=$("$PY" -c 'from coinstream.devstack.jars import resolve_jars; from coinstream.versions import HADOOP_VERSION; print(resolve_jars("hdfs", HADOOP_VERSION))')
  mkdir "$ctx/jars"; cp "$jars"/*.jar "$ctx/jars/"
  build "$img" "$ctx/Dockerfile" "$ctx" >/dev/null; rm -rf "$ctx"; echo "$img"
}
postgres() {
  local img=postgres:17.6-bookworm ctx
  ctx=$(standin_ctx postgres)
  build "$img" "$ctx/Dockerfile" "$ctx" >/dev/null; rm -rf "$ctx"; echo "$img"
}
hive_metastore() {
  local img=coinstream-local/hive-metastore:2.3.10 ctx pyspark_jars
  ctx=$(standin_ctx hive-metastore)
  pyspark_jars=$("$PY" -c 'import pyspark, os; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
  mkdir "$ctx/classes"
  javac --release 17 -cp "$pyspark_jars/*" -d "$ctx/classes" "$ctx/StandinMetastore.java"
  "${MVN[@]}" -C org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy -Dartifact="$POSTGRES_JDBC" \
    -DoutputDirectory="$ctx/jdbc" >&2
  mv "$ctx"/jdbc/postgresql-*.jar "$ctx/postgresql.jar"
  echo "$POSTGRES_JDBC_SHA256  $ctx/postgresql.jar" | sha256sum -c --quiet - >&2
  build "$img" "$ctx/Dockerfile" "$ctx" "SPARK_IMAGE=ghcr.io/coinstream/coinstream-spark:$TAG" >/dev/null
  rm -rf "$ctx"; echo "$img"
}
trino() {
  local img=trinodb/trino:476 ctx install jdk=${TRINO_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}
  [ -x "$jdk/bin/java" ] || { echo "no Temurin 25 JDK at $jdk (set TRINO_JDK)" >&2; exit 1; }
  install=$("$PY" -c 'from coinstream.devstack.trino import install_trino, install_hdfs_support as h; r = install_trino(); h(r); print(r)')
  ctx=$(standin_ctx trino)
  cp -al "$install" "$ctx/trino-server" 2>/dev/null || cp -a "$install" "$ctx/trino-server"
  rm -f "$ctx/trino-server/.done" "$ctx/trino-server/plugin/iceberg/hdfs/.done"
  cp -al "$jdk" "$ctx/jdk" 2>/dev/null || cp -a "$jdk" "$ctx/jdk"
  gcc -shared -fPIC -O2 -I"$jdk/include" -I"$jdk/include/linux" -o "$ctx/libjvmkill.so" "$ctx/jvmkill.c"
  build "$img" "$ctx/Dockerfile" "$ctx" >/dev/null; rm -rf "$ctx"; echo "$img"
}
lakehouse() { hadoop; postgres; hive_metastore; trino; }
standins() { spark_operator; lakehouse; }

[ $# -gt 0 ] || set -- all
for target in "$@"; do
  case $target in
    app|spark|notebook|strimzi|standins|lakehouse|hadoop|postgres|trino) "$target" ;;
    spark-operator) spark_operator ;;
    hive-metastore) hive_metastore ;;
    project) app; spark; notebook ;;
    all) app; spark; notebook; strimzi; standins ;;
    *) echo "usage: $0 [app|spark|notebook|project|strimzi|standins|lakehouse|spark-operator|hadoop|postgres|hive-metastore|trino|all]..." >&2; exit 2 ;;
  esac
done
