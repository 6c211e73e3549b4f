#!/usr/bin/env bash
# The kind workflow behind `make kind-up|feed|trino-port-forward|dashboard-port-forward|notebook|status|kind-down|e2e-kind`.
# Needs a container engine (docker; podman via KIND_EXPERIMENTAL_PROVIDER=podman DOCKER=podman) and
# the internet for the base images and the upstream charts. Everything else is pinned and cached.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${COINSTREAM_CACHE:-$HOME/.cache/coinstream}
# shellcheck source=../src/coinstream/versions.env
source src/coinstream/versions.env
CLUSTER=${KIND_CLUSTER:-coinstream}
NS=${NAMESPACE:-coinstream}
VERSION=0.1.0
# The image tag follows the code: a changed source file gives new tags, so `make kind-up` after a
# change rolls the pods (a fixed tag with IfNotPresent would keep running the old image).
code_tag() {
  local files; files=$(git ls-files src operators images pyproject.toml requirements.lock 2>/dev/null || true)
  if [ -z "$files" ]; then echo "$VERSION"; return; fi
  # Content, not commits: an uncommitted edit changes the tag too.
  echo "$VERSION-$(cd "$(git rev-parse --show-toplevel)" && echo "$files" | tr '\n' '\0' \
    | xargs -0 sha256sum | sha256sum | cut -c1-12)"
}
TAG=${IMAGE_TAG:-$(code_tag)}
HIVE_TAG=${HIVE_IMAGE_TAG:-4.0.1-coinstream0.1.0}
DOCKER=${DOCKER:-docker}
FEED=${FEED:-simulated}
TRINO_PORT=${TRINO_PORT:-8443}
NOTEBOOK_PORT=${NOTEBOOK_PORT:-8888}
DASHBOARD_PORT=${DASHBOARD_PORT:-8050}
CTX=${KUBE_CONTEXT:-kind-$CLUSTER}
PY=${PY:-.venv/bin/python}

say() { printf '\033[1;36m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31merror: %s\033[0m\n' "$*" >&2; exit 1; }
k() { kubectl --context "$CTX" -n "$NS" "$@"; }

kind_bin() {  # sigs.k8s.io/kind, built once into the cache
  local dir=$CACHE/bin/kind-$KIND_VERSION
  if [ ! -x "$dir/kind" ]; then
    say "building kind $KIND_VERSION into $dir"
    mkdir -p "$dir"
    GOBIN=$dir GOFLAGS=-buildvcs=false GOTOOLCHAIN=local go install "sigs.k8s.io/kind@$KIND_VERSION" >&2
  fi
  echo "$dir/kind"
}

helm_bin() { echo "$(bash tools/build.sh helm)/helm"; }

need_engine() {
  command -v "$DOCKER" >/dev/null 2>&1 || die "no '$DOCKER' here: the kind workflow needs a container engine"
  "$DOCKER" info >/dev/null 2>&1 || die "'$DOCKER info' failed: is the engine running?"
}

images() {  # name=dockerfile pairs, the tags the charts' values-kind.yaml expect
  echo "ghcr.io/coinstream/coinstream:$TAG=images/app/Dockerfile"
  echo "ghcr.io/coinstream/coinstream-spark:$TAG=images/spark/Dockerfile"
  echo "ghcr.io/coinstream/notebook:$TAG=images/notebook/Dockerfile"
  echo "ghcr.io/coinstream/hive-metastore:$HIVE_TAG=images/metastore/Dockerfile"
}

# --set flags that point each chart at this build's images.
chart_sets() {
  case $1 in
    coinstream) echo "--set notebook.image.tag=$TAG --set dashboard.image.tag=$TAG --set test.image.tag=$TAG" ;;
    coinstream-operator) echo "--set image.tag=$TAG \
      --set config.COINSTREAM_OPERATOR_PRODUCER_IMAGE=ghcr.io/coinstream/coinstream:$TAG \
      --set config.COINSTREAM_OPERATOR_SPARK_IMAGE=ghcr.io/coinstream/coinstream-spark:$TAG" ;;
    *) echo "" ;;
  esac
}

# The API server as pods reach it: the Service's ClusterIP and, since NetworkPolicies see the
# address after kube-proxy's DNAT, every endpoint address. Read from the cluster, not assumed
# (Docker, Podman and custom pools differ).
api_server_sets() {
  local ips ports cidrs
  ips=$(kubectl --context "$CTX" -n default get endpointslices -l kubernetes.io/service-name=kubernetes \
    -o jsonpath='{range .items[*].endpoints[*]}{.addresses[*]}{" "}{end}')
  ports=$(kubectl --context "$CTX" -n default get endpointslices -l kubernetes.io/service-name=kubernetes \
    -o jsonpath='{range .items[*].ports[*]}{.port}{" "}{end}')
  if [ -z "$ips" ]; then  # a control plane without the EndpointSlice mirroring: the Endpoints object
    ips=$(kubectl --context "$CTX" -n default get endpoints kubernetes \
      -o jsonpath='{range .subsets[*]}{.addresses[*].ip}{" "}{end}' 2>/dev/null)
    ports=$(kubectl --context "$CTX" -n default get endpoints kubernetes \
      -o jsonpath='{range .subsets[*]}{.ports[*].port}{" "}{end}' 2>/dev/null)
  fi
  [ -n "$ips" ] || die "no endpoints of the kubernetes Service in context $CTX"
  cidrs="$(kubectl --context "$CTX" -n default get svc kubernetes -o jsonpath='{.spec.clusterIP}')/32"
  for ip in $ips; do cidrs="$cidrs,$ip/32"; done
  echo "--set networkPolicy.apiServer.cidrs={$cidrs} --set networkPolicy.apiServer.ports={443,${ports// /,}}" \
    | sed 's/,}/}/'
}

# `helm test` runs only the platform's own test pod: the Trino subchart's test pod has no
# securityContext (refused in a `restricted` namespace) and queries a catalog we do not configure.
helm_test_filter() { echo "--filter name=coinstream-test-trino-query"; }

up() {
  need_engine
  local kind helm; kind=$(kind_bin); helm=$(helm_bin)
  if "$kind" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    say "kind cluster $CLUSTER exists"
  else
    say "creating kind cluster $CLUSTER"
    "$kind" create cluster --name "$CLUSTER" --config kind/cluster.yaml --wait 180s \
      ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
  fi
  "$kind" export kubeconfig --name "$CLUSTER" >/dev/null

  for pair in $(images); do
    local image=${pair%%=*} file=${pair#*=}
    say "building $image"
    "$DOCKER" build -f "$file" -t "$image" .
    "$kind" load docker-image --name "$CLUSTER" "$image"
  done

  say "namespace $NS (Pod Security: restricted)"
  kubectl --context "$CTX" create namespace "$NS" --dry-run=client -o yaml | kubectl --context "$CTX" apply -f -
  kubectl --context "$CTX" label --overwrite namespace "$NS" \
    pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest \
    pod-security.kubernetes.io/warn=restricted pod-security.kubernetes.io/warn-version=latest >/dev/null

  say "upstream charts (Strimzi 1.2.0, spark-operator 2.5.2, Trino)"
  "$helm" repo add spark-operator https://kubeflow.github.io/spark-operator --force-update >/dev/null
  "$helm" repo add trino https://trinodb.github.io/charts --force-update >/dev/null
  "$helm" dependency build charts/coinstream
  # The archives must be the pinned ones (dependencies.sha256), whatever the repositories serve.
  (cd charts/coinstream/charts && grep -v '^#' ../dependencies.sha256 | sha256sum -c --quiet -) \
    || die "an upstream chart archive does not match charts/coinstream/dependencies.sha256"

  say "installing coinstream-crds"
  "$helm" upgrade --install coinstream-crds charts/coinstream-crds -n "$NS" \
    -f charts/coinstream-crds/values-kind.yaml --wait --timeout 2m
  say "installing the platform (Kafka, HDFS, metastore, Trino, Spark operator, Jupyter)"
  # shellcheck disable=SC2046
  "$helm" upgrade --install coinstream charts/coinstream -n "$NS" \
    -f charts/coinstream/values-kind.yaml --set "sparkOperator.spark.jobNamespaces={$NS}" \
    $(chart_sets coinstream) $(api_server_sets) ${PLATFORM_VALUES:+-f "$PLATFORM_VALUES"} \
    --wait --timeout 20m
  say "installing coinstream-operator"
  # shellcheck disable=SC2046
  "$helm" upgrade --install coinstream-operator charts/coinstream-operator -n "$NS" \
    -f charts/coinstream-operator/values-kind.yaml $(chart_sets coinstream-operator) --wait --timeout 5m

  say "waiting for Kafka"
  k wait kafka/coinstream --for=condition=Ready --timeout=15m
  status
  echo
  echo "Ready. Next: make feed   (then: make dashboard-port-forward, make trino-port-forward, make notebook)"
}

feed() {
  local file=examples/coinfeed-$FEED.yaml
  [ -f "$file" ] || die "no $file (FEED=simulated or FEED=coingecko)"
  if [ "$FEED" = coingecko ] && ! k get secret coingecko >/dev/null 2>&1; then
    [ -n "${COINSTREAM_COINGECKO_API_KEY:-}" ] || die "set COINSTREAM_COINGECKO_API_KEY (a CoinGecko demo key) first"
    k create secret generic coingecko --from-literal=apiKey="$COINSTREAM_COINGECKO_API_KEY" >/dev/null
  fi
  k apply -f "$file"
  local name; name=$(yq_name "$file")
  say "waiting for CoinFeed $name to be Ready (topic, producer, Spark stream)"
  k wait "coinfeed/$name" --for=condition=Ready --timeout="${FEED_TIMEOUT:-15m}"
  k get coinfeed "$name"
}

yq_name() { "$PY" -c 'import sys,yaml; print(next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d)["metadata"]["name"])' "$1"; }

trino_client_files() {
  # The read-only analyst's password and the release's CA, private to this user.
  local dir=${TRINO_CLIENT_DIR:-$HOME/.config/coinstream/kind-trino}
  (umask 077 && mkdir -p "$dir" \
    && k get secret coinstream-trino-users -o jsonpath='{.data.analyst}' | base64 -d >"$dir/analyst" \
    && k get configmap coinstream-trino-ca -o jsonpath='{.data.ca\.crt}' >"$dir/ca.crt")
  echo "$dir"
}

trino_port_forward() {
  local dir; dir=$(trino_client_files)
  say "Trino on https://localhost:$TRINO_PORT as the read-only analyst (Ctrl-C to stop); clients read:"
  echo "  export COINSTREAM_TRINO_HOST=localhost COINSTREAM_TRINO_PORT=$TRINO_PORT COINSTREAM_TRINO_USER=analyst"
  echo "  export COINSTREAM_TRINO_PASSWORD_FILE=$dir/analyst COINSTREAM_TRINO_CA_FILE=$dir/ca.crt"
  echo "  (trino CLI: trino --server https://localhost:$TRINO_PORT --truststore-path $dir/ca.crt --user analyst --password --catalog lake)"
  k port-forward svc/coinstream-trino "$TRINO_PORT:8443"
}

dashboard_port_forward() {
  # kubectl port-forward binds 127.0.0.1 only: the page has no login of its own.
  say "Live dashboard on http://127.0.0.1:$DASHBOARD_PORT (Ctrl-C to stop)"
  k port-forward svc/coinstream-dashboard "$DASHBOARD_PORT:8050"
}

notebook() {
  local token; token=$(k get secret coinstream-notebook -o jsonpath='{.data.token}' | base64 -d)
  say "JupyterLab: http://localhost:$NOTEBOOK_PORT/lab/tree/notebooks/cluster-quickstart.ipynb?token=$token"
  k port-forward svc/coinstream-notebook "$NOTEBOOK_PORT:8888"
}

status() {
  local helm; helm=$(helm_bin)
  "$helm" list -n "$NS"
  k get coinfeeds,kafka,kafkatopics,sparkapplications 2>/dev/null || true
  k get pods -o wide
}

down() {
  local kind; kind=$(kind_bin)
  "$kind" delete cluster --name "$CLUSTER"
}

e2e() {
  # kind-up -> a CoinFeed -> rows in Trino -> helm test -> the notebook against Trino -> kind-down.
  [ -x "$PY" ] || die "run 'make venv' first"
  local pf_pid="" port
  cleanup() {
    [ -n "$pf_pid" ] && kill "$pf_pid" 2>/dev/null || true
    if [ "${KEEP_CLUSTER:-0}" != 1 ]; then down; fi
  }
  trap cleanup EXIT
  up
  FEED=simulated feed
  port=$("$PY" -c 'from coinstream.devstack.process import free_port; print(free_port())')
  k port-forward svc/coinstream-trino "$port:8443" >/tmp/coinstream-e2e-port-forward.log 2>&1 &
  pf_pid=$!
  say "waiting for quotes in lake.coinstream.quotes (Trino on localhost:$port)"
  local dir; dir=$(trino_client_files)
  export COINSTREAM_TRINO_HOST=localhost COINSTREAM_TRINO_PORT=$port COINSTREAM_TRINO_USER=analyst
  export COINSTREAM_TRINO_PASSWORD_FILE=$dir/analyst COINSTREAM_TRINO_CA_FILE=$dir/ca.crt
  "$PY" kind/e2e_check.py wait-rows --port "$port" --timeout "${ROWS_TIMEOUT:-900}"
  say "helm test coinstream (a Trino query from inside the cluster)"
  # shellcheck disable=SC2046
  "$(helm_bin)" test coinstream -n "$NS" --timeout 10m --logs $(helm_test_filter)
  say "running src/coinstream/report/notebooks/cluster-quickstart.ipynb against Trino"
  "$PY" kind/e2e_check.py run-notebook --port "$port" src/coinstream/report/notebooks/cluster-quickstart.ipynb
  say "e2e-kind passed"
}

case ${1:-} in
  up) up ;;
  feed) feed ;;
  trino-port-forward) trino_port_forward ;;
  dashboard-port-forward) dashboard_port_forward ;;
  notebook) notebook ;;
  status) status ;;
  down) down ;;
  e2e) e2e ;;
  image-tag) echo "$TAG" ;;
  chart-sets) chart_sets "${2:?chart}" ;;
  api-server-sets) api_server_sets ;;
  helm-test-filter) helm_test_filter ;;
  *) die "usage: $0 up|feed|trino-port-forward|dashboard-port-forward|notebook|status|down|e2e|image-tag|chart-sets CHART|api-server-sets|helm-test-filter" ;;
esac
