#!/usr/bin/env bash
# Build (or fetch from the cache) the real binaries the otel_errors deployment
# half runs: the custom OpenTelemetry Collector, Jaeger v2, Prometheus (+promtool),
# Alertmanager (+amtool), and kustomize, which renders the Kubernetes bases.
#
#   ./build.sh                      # everything
#   ./build.sh collector jaeger     # only some of: collector jaeger prometheus alertmanager kustomize
#
# Binaries live OUTSIDE the repo in ${OTEL_ERRORS_CACHE:-$HOME/.cache/otel-errors}/bin:
#   otelcol-otel-errors-<hash>   keyed by sha256(builder-config.yaml + ocb version)
#   jaeger-<version>, prometheus-<version>, promtool-<version>,
#   alertmanager-<version>, amtool-<version>, kustomize-<version>
# plus unversioned symlinks (otelcol-otel-errors, jaeger, ...) to the current
# ones, so `PATH=$OTEL_ERRORS_CACHE/bin:$PATH` works. A warm run (nothing
# changed) only hashes the manifest and checks files: about a second.
# Go's module and build caches live under the cache dir while a build runs (unless
# GOMODCACHE / GOCACHE are set) and are deleted when it ends: they hold several GB
# that later runs do not need, since the binaries are kept. Set
# OTEL_ERRORS_KEEP_GO_CACHE=true to keep them (faster rebuilds after a manifest
# change). Deleting the cache dir gives a genuinely cold build.
#
# Stdout: one NAME=PATH line per binary (also written to bin/paths.env), e.g.
#   eval "$(collector-config/build.sh)"; "$OTELCOL_BIN" --version
# Progress and errors go to stderr.
#
# Prometheus and Alertmanager are built from the Go module proxy by default
# (current upstream: Prometheus 3.x, Alertmanager 0.3x; no system daemons, no
# root needed). OTEL_ERRORS_PROMETHEUS_FROM=apt instead installs Debian's
# packages (bookworm: prometheus 2.42, alertmanager 0.25) with daemon start-up
# blocked, and uses /usr/bin binaries.
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MANIFEST="$HERE/builder-config.yaml"

# ---- versions (one place) -------------------------------------------------
# Collector core release; must equal the core versions in builder-config.yaml.
OCB_VERSION="v0.161.0"
# Jaeger: the Go module is tagged v1.x; the same commit is the v2 release.
JAEGER_MODULE_VERSION="v1.76.0"
JAEGER_V2_VERSION="v2.13.0"
# Prometheus' Go module tags v0.3MM.P for Prometheus v3.MM.P.
PROMETHEUS_MODULE_VERSION="v0.316.0"
PROMETHEUS_VERSION="3.16.0"
ALERTMANAGER_VERSION="v0.35.0"
# Kustomize renders collector-config/kubernetes; v5.8.2 is the newest that builds with
# Go 1.26 (v5.8.3 asks for Go 1.27).
KUSTOMIZE_VERSION="v5.8.2"

CACHE="${OTEL_ERRORS_CACHE:-$HOME/.cache/otel-errors}"
BIN="$CACHE/bin"
BUILD="$CACHE/build"
PROM_FROM="${OTEL_ERRORS_PROMETHEUS_FROM:-go}"

log() { printf '[build.sh] %s\n' "$*" >&2; }
die() { printf '[build.sh] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BIN" "$BUILD"

# Only one build.sh at a time per cache dir (parallel test runs call it too).
exec 9>"$CACHE/.lock"
if ! flock -w 3600 9; then die "could not lock $CACHE/.lock"; fi

go_env() {
    command -v go >/dev/null || die "go is not on PATH"
    export GOMODCACHE="${GOMODCACHE:-$CACHE/go/mod}"
    export GOCACHE="${GOCACHE:-$CACHE/go/build}"
    export GOPATH="${GOPATH:-$CACHE/go/path}"
    export CGO_ENABLED="${CGO_ENABLED:-0}"
    export GOFLAGS="${GOFLAGS:--buildvcs=false}"
}

# link NAME TARGET: atomically point $BIN/NAME at TARGET (a file in $BIN)
link() { ln -sfn "$(basename "$2")" "$BIN/.$1.tmp" && mv -fT "$BIN/.$1.tmp" "$BIN/$1"; }

sha256_of() { sha256sum | cut -c1-16; }

# ---- collector --------------------------------------------------------------
build_collector() {
    [[ -f "$MANIFEST" ]] || die "missing $MANIFEST"
    grep -q "go.opentelemetry.io/collector/service $OCB_VERSION" "$MANIFEST" \
        || die "builder-config.yaml's collector core version differs from OCB_VERSION=$OCB_VERSION"
    local hash out
    hash="$( { cat "$MANIFEST"; echo "ocb=$OCB_VERSION"; } | sha256_of)"
    out="$BIN/otelcol-otel-errors-$hash"
    if [[ ! -x "$out" ]]; then
        go_env
        local ocb="$BIN/ocb-$OCB_VERSION"
        if [[ ! -x "$ocb" ]]; then
            log "installing ocb $OCB_VERSION"
            local tools="$BUILD/ocb-$OCB_VERSION"
            rm -rf "$tools"; mkdir -p "$tools"
            GOBIN="$tools" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
            mv -f "$tools/builder" "$ocb"; rm -rf "$tools"
        fi
        log "building otelcol-otel-errors ($hash) with ocb $OCB_VERSION; this takes minutes"
        local dir="$BUILD/otelcol-$hash"
        rm -rf "$BUILD"/otelcol-*; mkdir -p "$dir"
        cp "$MANIFEST" "$dir/builder-config.yaml"
        # ocb's own `go mod tidy` also resolves the components' test-only imports, and
        # one of them is not served by the module proxy (k8sattributes' tests import
        # pkg/semconvtest): generate the sources, record the modules with `tidy -e`
        # (which tolerates that), then compile with ocb. A module the binary itself
        # needs and cannot get still fails the compilation.
        (cd "$dir" && "$ocb" --config builder-config.yaml --skip-compilation >&2) \
            || log "ocb's go mod tidy failed (test-only imports); continuing with go mod tidy -e"
        [[ -f "$dir/_build/go.mod" ]] || die "ocb generated no sources in $dir/_build"
        (cd "$dir/_build" && go mod tidy -e -compat=1.25 >&2)
        (cd "$dir" && "$ocb" --config builder-config.yaml --skip-generate --skip-get-modules >&2)
        [[ -x "$dir/_build/otelcol-otel-errors" ]] || die "ocb produced no binary in $dir/_build"
        mv -f "$dir/_build/otelcol-otel-errors" "$out.tmp" && mv -f "$out.tmp" "$out"
        rm -rf "$dir"
    fi
    link otelcol-otel-errors "$out"
    echo "OTELCOL_BIN=$out"
}

# ---- jaeger v2 --------------------------------------------------------------
build_jaeger() {
    local out="$BIN/jaeger-$JAEGER_V2_VERSION"
    if [[ ! -x "$out" ]]; then
        go_env
        log "building jaeger $JAEGER_V2_VERSION (module github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION)"
        # Jaeger's go.mod has replace directives, so `go install pkg@version`
        # refuses it: build from a throw-away module that requires it and
        # copies its replace directives.
        local dir="$BUILD/jaeger-$JAEGER_MODULE_VERSION"
        rm -rf "$dir"; mkdir -p "$dir"
        (
            cd "$dir"
            go mod init otel-errors.local/jaeger-build >/dev/null 2>&1
            local gomod
            gomod="$(go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" \
                | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
            [[ -f "$gomod" ]] || die "could not download jaeger's go.mod"
            # single-line and block replace directives, verbatim
            awk '/^replace \(/{b=1; print; next} b{print; if ($0 ~ /^\)/) b=0; next} /^replace /{print}' \
                "$gomod" >> go.mod
            go get "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_MODULE_VERSION" >&2
            go build -trimpath -o "$out.tmp" \
                -ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_V2_VERSION -X github.com/jaegertracing/jaeger/internal/version.commitSHA=module-$JAEGER_MODULE_VERSION" \
                github.com/jaegertracing/jaeger/cmd/jaeger
        )
        mv -f "$out.tmp" "$out"
        rm -rf "$dir"
    fi
    link jaeger "$out"
    echo "JAEGER_BIN=$out"
}

# ---- prometheus / alertmanager ---------------------------------------------
prom_ldflags() { # VERSION
    local v="github.com/prometheus/common/version"
    echo "-s -w -X $v.Version=$1 -X $v.Revision=module -X $v.Branch=HEAD -X $v.BuildUser=otel-errors-build.sh -X $v.BuildDate=19700101-00:00:00"
}

build_prometheus_go() {
    local p="$BIN/prometheus-v$PROMETHEUS_VERSION" t="$BIN/promtool-v$PROMETHEUS_VERSION"
    if [[ ! -x "$p" || ! -x "$t" ]]; then
        go_env
        log "building prometheus + promtool v$PROMETHEUS_VERSION (module $PROMETHEUS_MODULE_VERSION)"
        # remove_all_sd: leave out the cloud/kubernetes service discoveries
        # (static and file SD remain), which halves the build. No builtinassets:
        # the web UI is not embedded (it needs npm); the HTTP API is complete.
        local tools="$BUILD/prometheus-$PROMETHEUS_MODULE_VERSION"
        rm -rf "$tools"; mkdir -p "$tools"
        GOBIN="$tools" go install -trimpath -tags remove_all_sd \
            -ldflags "$(prom_ldflags "$PROMETHEUS_VERSION")" \
            "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" \
            "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
        mv -f "$tools/prometheus" "$p"; mv -f "$tools/promtool" "$t"; rm -rf "$tools"
    fi
    link prometheus "$p"; link promtool "$t"
    echo "PROMETHEUS_BIN=$p"
    echo "PROMTOOL_BIN=$t"
}

build_alertmanager_go() {
    local v="$ALERTMANAGER_VERSION"
    local a="$BIN/alertmanager-$v" t="$BIN/amtool-$v"
    if [[ ! -x "$a" || ! -x "$t" ]]; then
        go_env
        log "building alertmanager + amtool $v"
        # ui/web.go embeds ui/app/dist, which is built with npm/elm and is not
        # in the module zip, so `go install @version` fails. Build a writable
        # copy of the module with a minimal placeholder page instead (the API
        # and amtool are complete).
        local src
        src="$(go mod download -json "github.com/prometheus/alertmanager@$v" \
            | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
        [[ -d "$src" ]] || die "could not download alertmanager $v"
        local dir="$BUILD/alertmanager-$v"
        rm -rf "$dir"; cp -r "$src" "$dir"; chmod -R u+w "$dir"
        if [[ ! -e "$dir/ui/app/dist" ]]; then
            mkdir -p "$dir/ui/app/dist"
            printf '<!doctype html><title>Alertmanager</title><p>Alertmanager %s built without its web UI; use the API (/api/v2) or amtool.</p>\n' "$v" \
                > "$dir/ui/app/dist/index.html"
        fi
        (cd "$dir" && go build -trimpath -ldflags "$(prom_ldflags "${v#v}")" -o "$a.tmp" ./cmd/alertmanager \
            && go build -trimpath -ldflags "$(prom_ldflags "${v#v}")" -o "$t.tmp" ./cmd/amtool)
        mv -f "$a.tmp" "$a"; mv -f "$t.tmp" "$t"
        rm -rf "$dir"
    fi
    link alertmanager "$a"; link amtool "$t"
    echo "ALERTMANAGER_BIN=$a"
    echo "AMTOOL_BIN=$t"
}

# ---- kustomize ----------------------------------------------------------------
build_kustomize() {
    local out="$BIN/kustomize-$KUSTOMIZE_VERSION"
    if [[ ! -x "$out" ]]; then
        go_env
        log "building kustomize $KUSTOMIZE_VERSION"
        local tools="$BUILD/kustomize-$KUSTOMIZE_VERSION"
        rm -rf "$tools"; mkdir -p "$tools"
        GOBIN="$tools" go install -trimpath -ldflags "-s -w" \
            "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
        mv -f "$tools/kustomize" "$out"; rm -rf "$tools"
    fi
    link kustomize "$out"
    echo "KUSTOMIZE_BIN=$out"
}

# Debian packages, with service start-up blocked: the packages' maintainer
# scripts call invoke-rc.d/deb-systemd-invoke, which honour policy-rc.d.
apt_install_prom() { # PACKAGE...
    local missing=() pkg
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    ((${#missing[@]})) || return 0
    [[ $(id -u) -eq 0 ]] || die "apt-get install ${missing[*]} needs root"
    local policy=/usr/sbin/policy-rc.d created=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1
    fi
    log "apt-get install ${missing[*]} (daemon start blocked by $policy)"
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || rc=$?
    if ((rc)); then
        apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || rc=$?
        ((rc == 0)) || { ((created)) && rm -f "$policy"; die "apt-get install failed"; }
    fi
    ((created)) && rm -f "$policy"
    # Belt and braces: stop any daemon the packages started anyway (by pid
    # file / exact executable, never by pattern).
    local exe pid
    for exe in /usr/bin/prometheus /usr/bin/prometheus-alertmanager; do
        for pid in $(pidof "$exe" 2>/dev/null || true); do
            log "stopping $exe (pid $pid) started by the package"; kill "$pid" || true
        done
    done
}

build_prometheus_apt() {
    apt_install_prom prometheus
    echo "PROMETHEUS_BIN=/usr/bin/prometheus"
    echo "PROMTOOL_BIN=/usr/bin/promtool"
}

build_alertmanager_apt() {
    apt_install_prom prometheus-alertmanager
    echo "ALERTMANAGER_BIN=/usr/bin/prometheus-alertmanager"
    echo "AMTOOL_BIN=/usr/bin/amtool"
}

# ---- main -------------------------------------------------------------------
targets=("$@")
((${#targets[@]})) || targets=(collector jaeger prometheus alertmanager kustomize)
case "$PROM_FROM" in
    go|apt) ;;
    *) die "OTEL_ERRORS_PROMETHEUS_FROM must be go or apt, not '$PROM_FROM'" ;;
esac
results="$(mktemp "$CACHE/.results.XXXXXX")"
# Also a warm run deletes what an earlier run left there (one interrupted, or kept
# with OTEL_ERRORS_KEEP_GO_CACHE): $CACHE/go is only ever Go's caches of ours.
drop_go_cache() {
    [[ -d "$CACHE/go" && "${OTEL_ERRORS_KEEP_GO_CACHE:-false}" != true ]] || return 0
    log "deleting Go's module and build caches ($(du -sh "$CACHE/go" 2>/dev/null | cut -f1))"
    chmod -R u+w "$CACHE/go" 2>/dev/null || true  # module files are read-only
    rm -rf "$CACHE/go"
}
trap 'rm -f "$results"; drop_go_cache' EXIT
for target in "${targets[@]}"; do
    case "$target" in
        collector) build_collector >> "$results" ;;
        jaeger) build_jaeger >> "$results" ;;
        kustomize) build_kustomize >> "$results" ;;
        prometheus|alertmanager) "build_${target}_${PROM_FROM}" >> "$results" ;;
        *) die "unknown target '$target' (collector, jaeger, prometheus, alertmanager, kustomize)" ;;
    esac
done
cat "$results"
# paths.env keeps the latest path of every binary built so far
touch "$BIN/paths.env"
while IFS='=' read -r k v; do
    [[ -n "$k" ]] || continue
    { grep -v "^$k=" "$BIN/paths.env" || true; echo "$k=$v"; } > "$BIN/paths.env.tmp"
    mv -f "$BIN/paths.env.tmp" "$BIN/paths.env"
done < "$results"
