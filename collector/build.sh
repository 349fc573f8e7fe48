#!/usr/bin/env bash
# Build the OpenTelemetry Collector described by manifest.yaml, or reuse the cached build.
#
# The binary lands in ${SCAFFOLD_CACHE:-$HOME/.cache/otel-scaffold}/collector/<sha256 of the
# manifest>/otelcol, outside the checkout, so every clone, test run and CI job on the machine
# shares one build. The builder itself is installed next to it (GOBIN), never into ~/go/bin.
# The last line on stdout is the binary's path; everything else goes to stderr.
#
# A build says up front how long it will take and where the binary goes, then reports each step
# (installing the builder, resolving and downloading modules, compiling) with how far it got:
# a spinner on a terminal, a line every few seconds otherwise (CI logs, tests). A failed step
# shows the end of its output and keeps all of it in failed-build.log next to the binary.
#
# Safe to run concurrently: one process builds under an exclusive lock while the others wait,
# and the binary appears by an atomic rename, so nobody ever sees a half-written file.
# GOFLAGS, GOCACHE and GOMODCACHE keep their defaults so the Go caches stay shared.
set -euo pipefail

# Wall-clock time of a whole build on a shared 2-core machine (docs/collector.md): 6m46s with
# empty Go caches (GOMODCACHE and GOCACHE; 280 s of CPU), 13 s with both holding this release.
readonly cold_build="up to 7 minutes"
readonly warm_build="about 15 seconds"
# Seconds between two progress lines when stderr is not a terminal.
readonly report_every="${COLLECTOR_PROGRESS_SECONDS:-10}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="${COLLECTOR_MANIFEST:-$here/manifest.yaml}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

say() { echo "build.sh: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
    say "the Go toolchain (go) is not on PATH; install Go >= 1.26"
    exit 127
fi
if [[ ! -f "$manifest" ]]; then
    say "manifest $manifest not found"
    exit 2
fi

# The builder version lives in the manifest (a "# builder: MODULE VERSION" comment) so that it is
# part of the hash: bumping it rebuilds.
read -r builder_module builder_version < <(sed -n 's/^# builder: *//p' "$manifest")
if [[ -z "${builder_module:-}" || -z "${builder_version:-}" ]]; then
    say "$manifest lacks its '# builder: MODULE VERSION' line"
    exit 2
fi
# "# go.sum: LINE" comments pin modules the checksum database has no record of: the build skips
# the database for those modules alone and checks their go.sum lines against these instead.
mapfile -t pinned_sums < <(sed -n 's/^# go\.sum: *//p' "$manifest")
for line in "${pinned_sums[@]}"; do
    module="${line%% *}"
    export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$module"
done

# Absolute paths: the builder runs from a temp directory and GOBIN must be absolute.
manifest="$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")"
digest="$(sha256sum "$manifest" | cut -d' ' -f1)"
cache_root="${SCAFFOLD_CACHE:-$HOME/.cache/otel-scaffold}"
mkdir -p "$cache_root"
cache_root="$(cd "$cache_root" && pwd)"
dir="$cache_root/collector/$digest"
binary="$dir/otelcol"

if [[ -x "$binary" ]]; then
    say "using the cached collector (its manifest is unchanged)"
    echo "$binary"
    exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    say "another build of this manifest is running; waiting for it"
    flock 9
fi
# Another process may have finished the build while this one waited for the lock.
if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi

modcache="$(go env GOMODCACHE)"
work="$(mktemp -d "$dir/.build.XXXXXX")"
child=""
cleanup() {
    # A step runs in its own process group (setsid) so that an interrupted build stops the go
    # commands under it too, not only the step's first process.
    if [[ -n "$child" ]]; then
        kill -TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tty=false
columns=80
if [[ -t 2 ]]; then
    tty=true
    columns=$(tput cols 2>/dev/null || echo 80)
fi

duration() {
    local s=$1
    if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# What the module steps fetched so far: go.mod files (resolving) and module zips (downloading).
fetched() {
    local mods zips
    mods=$(find "$modcache/cache/download" -name '*.mod' -newer "$work/.started" 2>/dev/null | wc -l)
    zips=$(find "$modcache/cache/download" -name '*.zip' -newer "$work/.started" 2>/dev/null | wc -l)
    echo "$mods modules resolved, $zips downloaded"
}

# How many packages `go build -v` compiled so far: it prints each one as it is compiled (those
# found in the build cache are not compiled, so a warm build stays far below the total).
total_packages=0
compiled() {
    echo "$(wc -l <"$work/step.log") of $total_packages packages compiled"
}

# step TITLE COUNTER COMMAND...: run COMMAND with its output in $work/step.log while reporting
# TITLE, the time spent and what the COUNTER function says; on failure, show the log's end.
step() {
    local title=$1 counter=$2 started=$SECONDS frame=0 status=0 now shown=$SECONDS
    local spinner='-\|/' report line
    shift 2
    touch "$work/.started"
    : >"$work/step.log"
    if command -v setsid >/dev/null 2>&1; then
        setsid "$@" >"$work/step.log" 2>&1 &
    else
        "$@" >"$work/step.log" 2>&1 &
    fi
    child=$!
    report="$($counter)"
    while kill -0 "$child" 2>/dev/null; do
        now=$SECONDS
        if $tty; then
            # The counter runs once a second, the spinner turns five times as often.
            ((frame % 5 == 0)) && report="$($counter)"
            line="${spinner:frame++ % 4:1} $title: $(duration $((now - started))), $report"
            # Cut to the terminal's width: a wrapped line could not be redrawn in place.
            printf '\r\033[K%s' "${line:0:columns-1}" >&2
            sleep 0.2
        else
            if ((now - shown >= report_every)); then
                say "  $title: $(duration $((now - started))), $($counter)"
                shown=$now
            fi
            sleep 1
        fi
    done
    wait "$child" || status=$?
    child=""
    $tty && printf '\r\033[K' >&2
    if ((status != 0)); then
        cp "$work/step.log" "$dir/failed-build.log"
        say "$title failed after $(duration $((SECONDS - started))); the end of its output" \
            "(all of it in $dir/failed-build.log):"
        tail -n 30 "$work/step.log" >&2
        exit "$status"
    fi
    say "$title: done in $(duration $((SECONDS - started))), $($counter)"
}

start=$SECONDS
say "building the OpenTelemetry Collector $builder_version of $manifest"
# The module cache tells whether this release was built here before; the build cache, filled
# by that build, then usually holds its packages too.
if [[ -f "$modcache/cache/download/go.opentelemetry.io/collector/otelcol/@v/$builder_version.zip" ]]; then
    say "the Go caches hold this release: expect $warm_build ($cold_build cold, on 2 cores)"
else
    say "a cold build (empty Go caches): expect $cold_build on 2 cores, less on more"
fi
say "the binary will be cached as $binary; later runs reuse it at once"

if [[ ! -x "$dir/builder" ]]; then
    step "installing the collector builder $builder_version" fetched \
        env GOBIN="$work/bin" go install "$builder_module@$builder_version"
    mv -f "$work/bin/builder" "$dir/builder"
fi

# The builder generates the sources, resolves the module graph (go mod tidy) and downloads every
# module; the manifest's relative output_path puts all of it in $work/dist.
step "resolving and downloading modules" fetched \
    env -C "$work" "$dir/builder" --config="$manifest" --skip-compilation

for line in "${pinned_sums[@]}"; do
    if ! grep -qxF "$line" "$work/dist/go.sum"; then
        say "the downloaded ${line%% *} does not match the manifest's '# go.sum:' line:"
        say "  expected: $line"
        say "  got:      $(grep -F "${line% *} " "$work/dist/go.sum" || echo "no such line")"
        exit 1
    fi
done

# Compiled here rather than by the builder, with the flags the builder uses (no cgo, -trimpath,
# stripped), so that `go build -v` can report every package as it is compiled.
cd "$work/dist"
total_packages=$(CGO_ENABLED=0 go list -deps . | wc -l)
step "compiling" compiled env CGO_ENABLED=0 go build -v -trimpath -ldflags="-s -w" -o otelcol .
cd "$dir"
mv -f "$work/dist/otelcol" "$binary"

say "built in $(duration $((SECONDS - start))): $binary"
echo "$binary"
