#!/usr/bin/env bash
# Bench: `danegate daneverify` vs Postfix's `posttls-finger -l dane` on one
# healthy DANE-EE domain of the integration world (tests/integration/lib/world.sh).
#
# N sequential runs of each, every run a fresh process (neither client keeps a
# cache between runs; the Unbound recursive in front of the world is warm for
# both), timed with hyperfine (installed with apt-get if missing) or, with
# TIMER=bash, a bash loop around `date +%s%N`. Prints mean / median / p95 per
# tool and the ratio danegate / posttls-finger. Not run by CI; no assertions
# on timings anywhere.
#
#     cargo build --release -p danegate && cargo build -p danegate-smtp-sink
#     sudo bash bench/daneverify.sh
#
# Environment:
#     N          runs per tool (default 50)
#     DOMAINS    domains of the world to probe, one table each (default
#                "ee311.sec.test ee312.sec.test": DANE-EE 3 1 1 with TLS 1.3,
#                DANE-EE 3 1 2 with a TLS 1.2-only server)
#     DANEGATE   danegate binary (default target/release/danegate)
#     SINK       danegate-smtp-sink binary (default target/debug/danegate-smtp-sink)
#     TIMER      hyperfine (default) or bash
#     KEEP_WORK  1: keep the temp dir (hyperfine JSON, logs)
set -euo pipefail

PROG=daneverify.sh
# shellcheck source=../tests/integration/lib/world.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/lib/world.sh"

outer() {
    need_tools ip nsd unbound ldns-keygen ldns-signzone ldns-key2ds dig openssl \
               timeout sha256sum sha512sum od awk jq posttls-finger
    SINK=$(abs "${SINK:-target/debug/danegate-smtp-sink}")
    DANEGATE=$(abs "${DANEGATE:-target/release/danegate}")
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
    local d
    for d in $DOMAINS; do bench_one "$d"; done
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
    # -c: no SMTP chat log; -L routine: one summary line (the default level of a probe).
    local pf_cmd=(posttls-finger -c -l dane -L routine -t 5 -T 5 "$DOMAIN")
    local tool
    if [ "$TIMER" = hyperfine ]; then
        # -N: no intermediate shell; 3 warm-up runs (page cache), then N timed runs.
        hyperfine -N --style basic --warmup 3 --runs "$N" --export-json "$WORK/hyperfine.$DOMAIN.json" \
            -n danegate "$(printf '%q ' "${dg_cmd[@]}")" \
            -n posttls-finger "$(printf '%q ' "${pf_cmd[@]}")" >&2
        for tool in danegate posttls-finger; do
            jq -r --arg t "$tool" '.results[] | select(.command == $t) | .times[] * 1000' \
                "$WORK/hyperfine.$DOMAIN.json" >"$WORK/$tool.ms"
        done
    else
        local i t0 t1
        for tool in danegate posttls-finger; do
            : >"$WORK/$tool.ms"
            for i in $(seq 1 "$N"); do
                t0=$(date +%s%N)
                if [ "$tool" = danegate ]; then "${dg_cmd[@]}" >/dev/null 2>&1; else "${pf_cmd[@]}" >/dev/null 2>&1; fi
                t1=$(date +%s%N)
                echo "$(( (t1 - t0) / 1000 ))" | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$WORK/$tool.ms"
            done
        done
    fi

    local dm dmed dp pm pmed pp
    read -r dm dmed dp < <(stats "$WORK/danegate.ms")
    read -r pm pmed pp < <(stats "$WORK/posttls-finger.ms")
    echo
    echo "daneverify vs posttls-finger: $DOMAIN ($proto), N=$N sequential runs each, timer: $TIMER, $(nproc) CPUs"
    printf '%-16s %10s %10s %10s\n' tool 'mean ms' 'median ms' 'p95 ms'
    printf '%-16s %10s %10s %10s\n' danegate "$dm" "$dmed" "$dp"
    printf '%-16s %10s %10s %10s\n' posttls-finger "$pm" "$pmed" "$pp"
    awk -v a="$dm" -v b="$pm" -v c="$dmed" -v d="$pmed" -v e="$dp" -v f="$pp" 'BEGIN {
        printf "%-16s %9.2fx %9.2fx %9.2fx\n", "danegate/pf", a / b, c / d, e / f }'
}

if [ "${1:-}" = __inside ]; then
    inside "$2"
else
    outer
fi
