#!/usr/bin/env bash
# Builds the chatd container image from the repository's Dockerfile with podman, from a binary built
# here (the Dockerfile's BINARY=prebuilt path: no registry is needed), and checks what the image
# says about itself: entrypoint, non-root user, port, files.
#
#   scripts/deploy/build-image.sh [TAG]      (default chatd:local)
#
# Only the build is checked: containers cannot run on the CI machine (podman run fails there).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAG=${1:-chatd:local}
die() { echo "build-image.sh: $*" >&2; exit 1; }

command -v podman >/dev/null || die "podman not found (apt-get install podman)"
CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT

VERSION=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo dev)
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$CTX/chatd" ./cmd/chatd)
cp /etc/ssl/certs/ca-certificates.crt "$CTX/" || die "no /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)"

podman build -q --build-arg BINARY=prebuilt -t "$TAG" -f "$ROOT/Dockerfile" "$CTX" >/dev/null
# The prebuilt stage's image is only a step (a new one per binary): drop it, and only it.
stage=$(podman images -q --filter label=org.chatd.stage=prebuilt)
[[ -z $stage ]] || podman rmi $stage >/dev/null

want() { # WHAT GOT WANT
	[[ $2 == "$3" ]] || die "image $TAG: $1 is '$2', want '$3'"
}
want entrypoint "$(podman image inspect "$TAG" --format '{{json .Config.Entrypoint}}')" '["/chatd"]'
want user "$(podman image inspect "$TAG" --format '{{.Config.User}}')" '65532:65532'
want "exposed ports" "$(podman image inspect "$TAG" --format '{{json .Config.ExposedPorts}}')" '{"8080/tcp":{}}'

# The files: exactly the binary and the CA bundle.
podman save -q --format docker-archive -o "$CTX/image.tar" "$TAG"
mkdir "$CTX/image"
tar -xf "$CTX/image.tar" -C "$CTX/image"
files=$(for l in "$CTX"/image/*.tar "$CTX"/image/*/layer.tar; do [[ -f $l ]] && tar -tf "$l"; done | grep -v '/$' | sort -u | tr '\n' ' ')
want files "$files" "chatd etc/ssl/certs/ca-certificates.crt "
echo "built $TAG ($VERSION): entrypoint /chatd, user 65532, port 8080, files: $files"
