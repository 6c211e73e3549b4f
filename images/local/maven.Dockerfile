# Local stand-in for maven:3.9.x-eclipse-temurin-17 (the jar-fetching build stages): Debian's
# Maven and OpenJDK 17 JDK. Only build stages use it; no runtime image contains Maven.
ARG DEBIAN_BASE=coinstream-local/debian:bookworm
FROM ${DEBIAN_BASE}
COPY host-ca/ /usr/local/share/ca-certificates/host/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      maven openjdk-17-jdk-headless ca-certificates \
 && update-ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/*
