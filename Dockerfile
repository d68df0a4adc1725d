# syntax=docker/dockerfile:1
# seckill's api and worker in one small image; docker-compose.yml picks the
# binary with `entrypoint`. Build: docker build -t seckill:local .

# --- build: both binaries, static (no cgo: the embedded mode's SQLite is
# pure Go) ---
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	go build -ldflags="-s -w" -o /out/ ./cmd/api ./cmd/worker

# --- runtime: alpine for busybox wget (the healthchecks), a non-root user ---
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
	&& addgroup -S -g 10001 seckill \
	&& adduser -S -D -H -u 10001 -G seckill -s /sbin/nologin seckill
COPY --from=build /out/api /out/worker /usr/local/bin/
USER 10001:10001
# 8080 public API, 9090 api admin (metrics, admin API, pprof), 9091 worker admin.
EXPOSE 8080 9090 9091
ENTRYPOINT ["/usr/local/bin/api"]
