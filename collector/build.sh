#!/usr/bin/env bash
# Build the OpenTelemetry Collector described by manifest.yaml, or reuse the cached build.
#
# The binary lands in ${SCAFFOLD_CACHE:-$HOME/.cache/otel-scaffold}/collector/<sha256 of the
# manifest>/otelcol, outside the checkout, so every clone, test run and CI job on the machine
# shares one build. The builder itself is installed next to it (GOBIN), never into ~/go/bin.
# The last line on stdout is the binary's path; everything else goes to stderr.
#
# Safe to run concurrently: one process builds under an exclusive lock while the others wait,
# and the binary appears by an atomic rename, so nobody ever sees a half-written file.
# GOFLAGS, GOCACHE and GOMODCACHE keep their defaults so the Go caches stay shared.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="${COLLECTOR_MANIFEST:-$here/manifest.yaml}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: the Go toolchain (go) is not on PATH; install Go >= 1.26" >&2
    exit 127
fi
if [[ ! -f "$manifest" ]]; then
    echo "build.sh: manifest $manifest not found" >&2
    exit 2
fi

# The builder version lives in the manifest (a "# builder: MODULE VERSION" comment) so that it is
# part of the hash: bumping it rebuilds.
read -r builder_module builder_version < <(sed -n 's/^# builder: *//p' "$manifest")
if [[ -z "${builder_module:-}" || -z "${builder_version:-}" ]]; then
    echo "build.sh: $manifest lacks its '# builder: MODULE VERSION' line" >&2
    exit 2
fi

# Absolute paths: the builder runs from a temp directory and GOBIN must be absolute.
manifest="$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")"
digest="$(sha256sum "$manifest" | cut -d' ' -f1)"
cache_root="${SCAFFOLD_CACHE:-$HOME/.cache/otel-scaffold}"
mkdir -p "$cache_root"
cache_root="$(cd "$cache_root" && pwd)"
dir="$cache_root/collector/$digest"
binary="$dir/otelcol"

if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    echo "build.sh: another build of this manifest is running; waiting for it" >&2
    flock 9
fi
# Another process may have finished the build while this one waited for the lock.
if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi

work="$(mktemp -d "$dir/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$SECONDS

if [[ ! -x "$dir/builder" ]]; then
    echo "build.sh: installing $builder_module@$builder_version into $dir" >&2
    GOBIN="$work/bin" go install "$builder_module@$builder_version" >&2
    mv -f "$work/bin/builder" "$dir/builder"
fi

echo "build.sh: building the collector from $manifest (a cold build takes minutes)" >&2
# The manifest's relative output_path puts the generated sources and binary inside $work.
(cd "$work" && "$dir/builder" --config="$manifest") >&2
mv -f "$work/dist/otelcol" "$binary"

echo "build.sh: built $binary in $((SECONDS - start))s" >&2
echo "$binary"
