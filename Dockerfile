# syntax=docker/dockerfile:1
#
# Gatehouse container image: a static binary on distroless, running as the
# non-root user 65532. Build with `docker build -t gatehouse .`, or let
# compose.yaml build it (`docker compose up --build`).

# ---- build ----
# $BUILDPLATFORM/TARGETOS/TARGETARCH let `docker buildx build --platform`
# cross-compile natively instead of under emulation; a plain `docker build`
# sets them to the host's platform.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src

# Modules first, in their own layer: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
ARG TARGETOS
ARG TARGETARCH
# CGO_ENABLED=0: the SQLite driver (modernc.org/sqlite) is pure Go, so the
# binary is fully static and runs on distroless/static (no libc).
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /gatehouse ./cmd/gatehouse

# The working directory of the final image, owned by the runtime user so
# that the embedded SQLite store (used when GATEHOUSE_DATABASE_URL is not a
# postgres:// URL) can create gatehouse.db and its .kek there.
RUN mkdir /data

# ---- runtime ----
# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /gatehouse /gatehouse
COPY --from=build --chown=65532:65532 /data /data
USER 65532:65532
WORKDIR /data
# Every interface of the container: a published port (docker run -p) reaches
# it, and the container's loopback, where serve would otherwise listen for
# the default loopback issuer, is unreachable from outside.
ENV GATEHOUSE_LISTEN=:8080
EXPOSE 8080
ENTRYPOINT ["/gatehouse"]
CMD ["serve"]
