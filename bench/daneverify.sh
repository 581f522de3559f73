#!/usr/bin/env bash
# Bench: `danegate daneverify` vs Postfix's `posttls-finger -l dane` on one
# healthy DANE-EE domain of the integration world (tests/integration/lib/world.sh).
#
# N sequential runs of each, every run a fresh process (neither client keeps a
# cache between runs; the Unbound recursive in front of the world is warm for
# both), timed with hyperfine (installed with apt-get if missing) or, with
# TIMER=bash, a bash loop reading $EPOCHREALTIME (no fork). Prints mean / median / p95 per
# tool and the ratio danegate / posttls-finger. Three tools: "danegate" (a
# standalone `danegate daneverify --resolver --trust-anchor`, cold DNSSEC chain
# each run), "danegate-gw" (`danegate daneverify --data-dir DIR` against a
# `danegate serve` running on the same world: the check runs inside the gateway
# with its warm DNS cache; the warm-up runs fill it) and posttls-finger. Not run
# by CI; no assertions on timings anywhere.
#
#     cargo build --release -p danegate && cargo build -p danegate-smtp-sink
#     sudo bash bench/daneverify.sh
#
# Environment:
#     N          runs per tool (default 50)
#     DOMAINS    domains of the world to probe, one table each (default
#                "ee311.sec.test ee312.sec.test": DANE-EE 3 1 1 with TLS 1.3,
#                DANE-EE 3 1 2 with a TLS 1.2-only server)
#     DANEGATE   danegate binary (default $CARGO_TARGET_DIR/release/danegate, with
#                CARGO_TARGET_DIR defaulting to target)
#     SINK       danegate-smtp-sink binary (default $CARGO_TARGET_DIR/debug/danegate-smtp-sink)
#     TIMER      hyperfine (default; each tool's runs in one block) or bash (the
#                tools alternate run by run, so a change of load hits all alike)
#     KEEP_WORK  1: keep the temp dir (hyperfine JSON, logs)
set -euo pipefail

PROG=daneverify.sh
# shellcheck source=../tests/integration/lib/world.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/lib/world.sh"

outer() {
    need_tools ip nsd unbound ldns-keygen ldns-signzone ldns-key2ds dig openssl \
               timeout sha256sum sha512sum od awk jq posttls-finger
    local target=${CARGO_TARGET_DIR:-target}
    SINK=$(abs "${SINK:-$target/debug/danegate-smtp-sink}")
    DANEGATE=$(abs "${DANEGATE:-$target/release/danegate}")
    [ -x "$SINK" ] || die "sink binary '$SINK' not found (cargo build -p danegate-smtp-sink)"
    [ -x "$DANEGATE" ] || die "danegate binary '$DANEGATE' not found (cargo build --release -p danegate)"
    "$DANEGATE" daneverify --help >/dev/null 2>&1 || die "'$DANEGATE daneverify --help' fails"
    TIMER=${TIMER:-hyperfine}
    if [ "$TIMER" = hyperfine ] && ! command -v hyperfine >/dev/null 2>&1; then
        log "installing hyperfine (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y hyperfine >/dev/null 2>&1 \
            || { log "could not install hyperfine: timing with a bash loop"; TIMER=bash; }
    fi
    N=${N:-50}
    DOMAINS=${DOMAINS:-ee311.sec.test ee312.sec.test}
    export SINK DANEGATE TIMER N DOMAINS
    NETNS_RESOLV=1 netns_run dg-bench "${DANE_NS_ADDRS[@]}"
}

# stats FILE (one duration in ms per line) -> "mean median p95"
stats() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
        END {
            if (NR == 0) { print "- - -"; exit }
            med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            i = int(0.95 * NR); if (i < 0.95 * NR) i++; if (i < 1) i = 1
            printf "%.1f %.1f %.1f\n", s / NR, med, v[i] }'
}

inside() {
    inner_setup "$1"
    dane_world_build
    dane_world_start
    export MAIL_CONFIG="$WORK/postfix"
    gateway_start
    local d
    for d in $DOMAINS; do bench_one "$d"; done
}

# A danegate serve on the world (resolver: the Unbound at 127.0.0.1, the
# world's root anchor), control socket in $WORK/gw; no listener traffic.
gateway_start() {
    mkdir -p "$WORK/gw"
    cat >"$WORK/gw.toml" <<EOF
[server]
hostname = "bench.test"
data_dir = "$WORK/gw"

[[listener]]
name = "outbound"
address = "127.0.0.1:2526"

[dns]
resolvers = [ { address = "127.0.0.1", priority = 0 } ]
trust_anchor_file = "$WORK/root-anchor.zone"

[[log]]
name = "mail_logs"
level = "info"
EOF
    "$DANEGATE" serve --config "$WORK/gw.toml" 2>"$WORK/gw.err" &
    CHILD_PIDS+=("$!")
    local i
    for i in $(seq 1 100); do
        [ -S "$WORK/gw/control.sock" ] && return 0
        sleep 0.1
    done
    cat "$WORK/gw.err" >&2
    die "danegate serve did not open its control socket"
}

bench_one() { # bench_one DOMAIN
    local DOMAIN=$1
    # Both tools must see a healthy DANE domain before they are timed.
    local dg pf
    dg=$(run_daneverify "$DANEGATE" "$DOMAIN" mandatory)
    pf=$(run_posttls_finger "$DOMAIN")
    [ "$dg" = success ] || { cat "$WORK/dg.out" "$WORK/dg.err" >&2; die "danegate says $dg for $DOMAIN"; }
    [ "$pf" = verified ] || { cat "$WORK/pf.out" >&2; die "posttls-finger says $pf for $DOMAIN"; }
    local proto
    proto=$(sed -n 's/^TLS connection established: protocol \([^,]*\),.*/\1/p' "$WORK/dg.out")

    local dg_cmd=("$DANEGATE" daneverify --resolver 127.0.0.1 --trust-anchor "$WORK/root-anchor.zone"
                  --mode mandatory "$DOMAIN")
    local gw_cmd=("$DANEGATE" daneverify --data-dir "$WORK/gw" --mode mandatory "$DOMAIN")
    # Same output through the gateway as standalone (else the figure means nothing).
    "${gw_cmd[@]}" >"$WORK/gw.out" 2>"$WORK/gw.out.err" \
        || { cat "$WORK/gw.out" "$WORK/gw.out.err" >&2; die "danegate via the gateway fails for $DOMAIN"; }
    cmp -s "$WORK/gw.out" "$WORK/dg.out" \
        || { diff "$WORK/dg.out" "$WORK/gw.out" >&2; die "output via the gateway differs for $DOMAIN"; }
    # -c: no SMTP chat log; -L routine: one summary line (the default level of a probe).
    local pf_cmd=(posttls-finger -c -l dane -L routine -t 5 -T 5 "$DOMAIN")
    local tool
    if [ "$TIMER" = hyperfine ]; then
        # -N: no intermediate shell; 3 warm-up runs (page cache), then N timed runs.
        hyperfine -N --style basic --warmup 3 --runs "$N" --export-json "$WORK/hyperfine.$DOMAIN.json" \
            -n danegate "$(printf '%q ' "${dg_cmd[@]}")" \
            -n danegate-gw "$(printf '%q ' "${gw_cmd[@]}")" \
            -n posttls-finger "$(printf '%q ' "${pf_cmd[@]}")" >&2
        for tool in danegate danegate-gw posttls-finger; do
            jq -r --arg t "$tool" '.results[] | select(.command == $t) | .times[] * 1000' \
                "$WORK/hyperfine.$DOMAIN.json" >"$WORK/$tool.ms"
        done
    else
        # Alternating: run i of every tool, then run i+1 of every tool, so that a
        # change of machine load hits all tools alike. 3 untimed warm-up rounds.
        local i t0 t1
        for tool in danegate danegate-gw posttls-finger; do : >"$WORK/$tool.ms"; done
        for i in $(seq -2 "$N"); do
            for tool in danegate danegate-gw posttls-finger; do
                t0=${EPOCHREALTIME//[!0-9]/}
                case $tool in
                    danegate) "${dg_cmd[@]}" >/dev/null 2>&1 ;;
                    danegate-gw) "${gw_cmd[@]}" >/dev/null 2>&1 ;;
                    *) "${pf_cmd[@]}" >/dev/null 2>&1 ;;
                esac
                t1=${EPOCHREALTIME//[!0-9]/}
                [ "$i" -ge 1 ] || continue
                echo "$(( t1 - t0 ))" | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$WORK/$tool.ms"
            done
        done
    fi

    local dm dmed dp gm gmed gp pm pmed pp
    read -r dm dmed dp < <(stats "$WORK/danegate.ms")
    read -r gm gmed gp < <(stats "$WORK/danegate-gw.ms")
    read -r pm pmed pp < <(stats "$WORK/posttls-finger.ms")
    echo
    echo "daneverify vs posttls-finger: $DOMAIN ($proto), N=$N sequential runs each, timer: $TIMER, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-16s %10s %10s %10s\n' tool 'mean ms' 'median ms' 'p95 ms'
    printf '%-16s %10s %10s %10s\n' danegate "$dm" "$dmed" "$dp"
    printf '%-16s %10s %10s %10s\n' danegate-gw "$gm" "$gmed" "$gp"
    printf '%-16s %10s %10s %10s\n' posttls-finger "$pm" "$pmed" "$pp"
    awk -v a="$dm" -v b="$pm" -v c="$dmed" -v d="$pmed" -v e="$dp" -v f="$pp" 'BEGIN {
        printf "%-16s %9.2fx %9.2fx %9.2fx\n", "danegate/pf", a / b, c / d, e / f }'
    awk -v a="$gm" -v b="$pm" -v c="$gmed" -v d="$pmed" -v e="$gp" -v f="$pp" 'BEGIN {
        printf "%-16s %9.2fx %9.2fx %9.2fx\n", "danegate-gw/pf", a / b, c / d, e / f }'
}

if [ "${1:-}" = __inside ]; then
    inside "$2"
else
    outer
fi
