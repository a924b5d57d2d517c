#!/usr/bin/env bash
# Build the two lakeforge images with buildah, with no container registry needed: when no BASE_IMAGE is
# given, a Debian bookworm base image is bootstrapped once from Debian's packages (debootstrap).
#   make image                       (this script; about 10 minutes the first time, as root)
#   deploy/image/build.sh base       only make sure the base image exists (bootstrap it if needed)
#
#   LAKEFORGE_IMAGE          tag of the pipeline image         (localhost/lakeforge:<version>)
#   LAKEFORGE_AIRFLOW_IMAGE  tag of the Airflow image          (localhost/lakeforge-airflow:<version>)
#   BASE_IMAGE               a Debian bookworm image to build from (localhost/debian:bookworm-slim, made here)
#   DEBIAN_MIRROR            where debootstrap fetches from    (http://deb.debian.org/debian)
#   EXTRA_CA                 a PEM file of CAs the build stages trust (a TLS-intercepting proxy); the
#                            images that come out never hold it
# RUN steps use chroot isolation: no container runtime, cgroups or rlimits are needed to build. Docker
# format: OCI images drop HEALTHCHECK.
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$PROJECT_DIR"
say() { printf '[image] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

VERSION="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
LAKEFORGE_IMAGE="${LAKEFORGE_IMAGE:-localhost/lakeforge:$VERSION}"
LAKEFORGE_AIRFLOW_IMAGE="${LAKEFORGE_AIRFLOW_IMAGE:-localhost/lakeforge-airflow:$VERSION}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

need() {  # need COMMAND PACKAGE: install Debian's package when the command is missing (root only)
    command -v "$1" >/dev/null 2>&1 && return
    [ "$(id -u)" = 0 ] || die "$1 is not installed: run 'sudo apt-get install -y $2'"
    say "installing $2 from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >&2
}
need buildah buildah

if [ -z "${BASE_IMAGE:-}" ]; then
    BASE_IMAGE=localhost/debian:bookworm-slim
    if ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || die "bootstrapping $BASE_IMAGE needs root (or set BASE_IMAGE to a bookworm image)"
        need debootstrap debootstrap
        rootfs="$(mktemp -d "${TMPDIR:-/tmp}/lakeforge-rootfs.XXXXXX")"
        trap 'rm -rf "$rootfs"' EXIT
        say "bootstrapping Debian bookworm (minbase) from $DEBIAN_MIRROR into $rootfs"
        debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$rootfs.log" 2>&1 ||
            { tail -n 20 "$rootfs.log" >&2; die "debootstrap failed (log: $rootfs.log)"; }
        rm -f "$rootfs.log"
        rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
        container="$(buildah from scratch)"
        tar -C "$rootfs" -c . | tar -C "$(buildah mount "$container")" -x
        buildah umount "$container" >/dev/null
        buildah config --cmd /bin/bash --env LANG=C.UTF-8 "$container"
        buildah commit --quiet --rm "$container" "$BASE_IMAGE" >/dev/null
        say "made $BASE_IMAGE"
    fi
fi
if [ "${1:-}" = base ]; then
    say "base image: $BASE_IMAGE"
    exit 0
fi

args=(--isolation chroot --layers --format docker --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "VERSION=$VERSION")
if [ -n "${EXTRA_CA:-}" ]; then
    [ -s "$EXTRA_CA" ] || die "EXTRA_CA=$EXTRA_CA is not a readable PEM file"
    args+=(--secret "id=extra_ca,src=$EXTRA_CA")
fi
started=$SECONDS
say "building $LAKEFORGE_IMAGE (target runtime) from $BASE_IMAGE"
buildah bud "${args[@]}" --target runtime --tag "$LAKEFORGE_IMAGE" .
say "building $LAKEFORGE_AIRFLOW_IMAGE (target airflow)"
buildah bud "${args[@]}" --target airflow --tag "$LAKEFORGE_AIRFLOW_IMAGE" .
say "built both in $((SECONDS - started)) s"

# Smoke test: the CLI and Airflow start in their images, as the images' non-root user.
smoke() {  # smoke IMAGE COMMAND...
    local image="$1" container
    shift
    container="$(buildah from "$image")"
    buildah run --isolation chroot "$container" -- "$@"
    buildah rm "$container" >/dev/null
}
say "$LAKEFORGE_IMAGE: $(smoke "$LAKEFORGE_IMAGE" lakeforge --version)"
say "$LAKEFORGE_AIRFLOW_IMAGE: airflow $(smoke "$LAKEFORGE_AIRFLOW_IMAGE" airflow version 2>/dev/null | tail -n 1)"
