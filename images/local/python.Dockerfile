# Local stand-in for python:3.11.x-slim-bookworm: Debian 12's Python 3.11 on the debootstrap base.
# (No registry here; on a connected machine the project images use the upstream base directly.)
ARG DEBIAN_BASE=coinstream-local/debian:bookworm
FROM ${DEBIAN_BASE}
COPY host-ca/ /usr/local/share/ca-certificates/host/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-pip ca-certificates tini procps \
 && update-ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/python3 /usr/local/bin/python
ENV LANG=C.UTF-8
