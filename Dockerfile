# chatd container image: a static binary on distroless, running as non-root.
# Build from the repository root:  docker build -t chatd .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO off: a static binary. sonic's JIT needs no cgo.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/chatd ./cmd/chatd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatd /chatd
USER nonroot:nonroot
EXPOSE 8080
# Many connections need many file descriptors: raise the limit where the
# container runs (docker run --ulimit nofile=1048576:1048576, or compose).
ENTRYPOINT ["/chatd"]
