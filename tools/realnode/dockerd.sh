#!/usr/bin/env bash
# A private Docker engine for building the images: its own socket, pid and exec root under
# $RUN (default /run/coinstream-realnode/docker) and its image store under the cache, so warm
# runs reuse built layers. It touches no host networking: no bridge, no iptables, no IP
# forwarding; builds run with `--network host` (only the Debian mirror and PyPI are reached).
# Usage: dockerd.sh start|stop|env     (`eval "$(dockerd.sh env)"` sets DOCKER_HOST)
set -euo pipefail
CACHE=${COINSTREAM_CACHE:-$HOME/.cache/coinstream}
RUN=${REALNODE_RUN_DIR:-/run/coinstream-realnode}/docker
DATA=$CACHE/docker
SOCK=$RUN/docker.sock
export DOCKER_HOST=unix://$SOCK

start() {
  if [ -S "$SOCK" ] && docker version >/dev/null 2>&1; then return 0; fi
  mkdir -p "$RUN" "$DATA"
  # dockerd only starts its managed containerd when given none; it keeps that one under exec-root.
  setsid /usr/sbin/dockerd --host "$DOCKER_HOST" --data-root "$DATA" --exec-root "$RUN/exec" \
    --pidfile "$RUN/dockerd.pid" --bridge none --iptables=false --ip6tables=false --ip-forward=false \
    --ip-masq=false --storage-driver overlay2 --log-level warn --userland-proxy=false \
    >"$RUN/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 120); do
    docker version >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "dockerd did not come up; log:" >&2; tail -30 "$RUN/dockerd.log" >&2; exit 1
}

stop() {
  if [ -f "$RUN/dockerd.pid" ]; then
    local pid; pid=$(cat "$RUN/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    rm -f "$RUN/dockerd.pid"
  fi
  # dockerd leaves its default network namespace bind-mounted under the exec root.
  awk -v run="$RUN/" 'index($2, run) == 1 {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf "$RUN/exec"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
