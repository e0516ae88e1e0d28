# syntax=docker/dockerfile:1
# CassFS CSI driver image: one static binary, csi-driver, on a small Debian with the mount tools the node plugin
# needs. Build:  docker build --build-arg VERSION=$(git describe --tags --always) -t cassfs/csi-driver:dev .

ARG GO_VERSION=1.26

# --- build: a static binary (no cgo), reproducible paths, version stamped into main.version ---------------
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/csi-driver ./cmd/csi-driver

# --- runtime ------------------------------------------------------------------------------------------------
# The node plugin runs as root in a privileged container: it mounts FUSE itself (go-fuse DirectMount opens
# /dev/fuse and calls mount(2), no fusermount needed) and bind-mounts staged volumes into pods through
# k8s.io/mount-utils, which runs util-linux mount/umount ("mount" package). fuse3 supplies fusermount3 for the
# standalone `csi-driver mount` run by a non-root user; ca-certificates for TLS to Cassandra and ZooKeeper.
FROM debian:trixie-slim
ARG VERSION=dev
RUN apt-get update \
 && apt-get install -y --no-install-recommends mount fuse3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/csi-driver /usr/local/bin/csi-driver
LABEL org.opencontainers.image.title="cassfs-csi-driver" \
      org.opencontainers.image.description="CassFS CSI driver: POSIX volumes stored in Apache Cassandra, locked with ZooKeeper" \
      org.opencontainers.image.source="https://github.com/cassfs/cassfs" \
      org.opencontainers.image.url="https://github.com/cassfs/cassfs" \
      org.opencontainers.image.documentation="https://github.com/cassfs/cassfs/blob/main/docs/install.md" \
      org.opencontainers.image.version="${VERSION}"
ENTRYPOINT ["/usr/local/bin/csi-driver"]
