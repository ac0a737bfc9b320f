# chatd container image: the static binary (and CA certificates, for rediss://) on an empty base,
# running as a non-root user. From the repository root:
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t chatd .
# (podman build takes the same arguments.) scripts/deploy/build-image.sh builds the same image from a
# binary built on the host (BINARY=prebuilt), where no registry is reachable to pull golang from;
# CI runs it.

# BINARY names the stage the binary comes from: build (compile here) or prebuilt.
ARG BINARY=build

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not in the build context, so Go stamps no revision: -version reports VERSION.
ARG VERSION=dev
# CGO off: a static binary, which is all an empty image can run. sonic's JIT needs no cgo.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/chatd ./cmd/chatd \
 && cp /etc/ssl/certs/ca-certificates.crt /out/

# The build context holds a CGO_ENABLED=0 chatd and ca-certificates.crt, built outside.
FROM scratch AS prebuilt
# build-image.sh removes this stage's cached image after the build.
LABEL org.chatd.stage=prebuilt
COPY chatd ca-certificates.crt /out/

FROM ${BINARY} AS binary

FROM scratch
COPY --from=binary /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /out/chatd /chatd
# A numeric user: an empty image has no /etc/passwd.
USER 65532:65532
EXPOSE 8080
# Many connections need many file descriptors: raise the limit where the container runs
# (docker run --ulimit nofile=1048576:1048576, or ulimits in compose). Health: the orchestrator or
# the balancer polls GET /readyz on port 8080 (an empty image has no shell or curl for HEALTHCHECK).
ENTRYPOINT ["/chatd"]
