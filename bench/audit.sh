#!/usr/bin/env bash
# Bench: `danegate audit` over 1,000 recipient domains vs a loop of Postfix's
# `posttls-finger -l dane` over the same domains, in the same run, with the same
# verdicts.
#
# The world (real NSD + Unbound in a network namespace, signed with ldns from a private
# root; tests/integration/lib): 20 MX hosts mx01..mx20.hosts.test at 127.0.30.1-20, each
# a danegate-smtp-sink with its own leaf certificate, shared by 1,000 domains
# d0001..d1000.dom.test (domain i uses host ((i-1) mod 20)+1), as many domains share
# a few large providers' MX hosts on the Internet:
#   mx01..mx17  DANE-EE 3 1 1 of the host's key     posttls-finger: verified  / audit: dane-success
#   mx18        TLSA of a key no server has          certfail                  / dane-failed
#   mx19        no TLSA (NSEC-proven)                 nodane                    / dane-failed
#   mx20        nothing listens (connection refused)  noconnect                 / daneverify's word
# (the audit's expected verdict per host is what `danegate daneverify` says for it)
#
# Order: one untimed audit run (warms Unbound for both tools), the timed posttls-finger
# loop (one process per domain, sequential, as a script would run it), the timed audit
# (one process, --concurrency 100, --no-sts: posttls-finger checks DANE alone, so the
# audit's MTA-STS and TLS-RPT lookups are left out of the comparison). Every domain's posttls-finger verdict must map to the
# audit's verdict (mandatory table); the script dies otherwise. Not run by CI; no
# assertions on timings.
#
#     cargo build --release -p danegate && cargo build -p danegate-smtp-sink
#     sudo bash bench/audit.sh
#
# Environment:
#     DOMAINS      number of domains (default 1000)
#     CONCURRENCY  the audit's --concurrency (default 100)
#     DANEGATE     danegate binary (default $CARGO_TARGET_DIR/release/danegate, with
#                  CARGO_TARGET_DIR defaulting to target)
#     SINK         danegate-smtp-sink binary (default $CARGO_TARGET_DIR/debug/danegate-smtp-sink)
#     KEEP_WORK    1: keep the temp dir (outputs of both tools, the HTML report)
set -euo pipefail

PROG=audit.sh
# shellcheck source=../tests/integration/lib/world.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/lib/world.sh"

HOSTS_N=20
MX_ADDRS=()
for i in $(seq 1 "$HOSTS_N"); do MX_ADDRS+=("127.0.30.$i"); done

outer() {
    need_tools ip nsd unbound ldns-keygen ldns-signzone ldns-key2ds dig openssl \
               timeout sha256sum sha512sum od awk jq posttls-finger
    local target=${CARGO_TARGET_DIR:-target}
    SINK=$(abs "${SINK:-$target/debug/danegate-smtp-sink}")
    DANEGATE=$(abs "${DANEGATE:-$target/release/danegate}")
    [ -x "$SINK" ] || die "sink binary '$SINK' not found (cargo build -p danegate-smtp-sink)"
    [ -x "$DANEGATE" ] || die "danegate binary '$DANEGATE' not found (cargo build --release -p danegate)"
    "$DANEGATE" audit --help >/dev/null 2>&1 || die "'$DANEGATE audit --help' fails"
    DOMAINS=${DOMAINS:-1000}
    CONCURRENCY=${CONCURRENCY:-100}
    export SINK DANEGATE DOMAINS CONCURRENCY
    NETNS_RESOLV=1 netns_run dg-audit 127.0.1.1 127.0.2.1 127.0.3.1 "${MX_ADDRS[@]}"
}

mx_name() { printf 'mx%02d' "$1"; }
# The host of domain I (1-based).
host_of() { echo $(( ($1 - 1) % HOSTS_N + 1 )); }
# What each tool must say for host H.
expect_pf() { case $1 in 18) echo certfail ;; 19) echo nodane ;; 20) echo noconnect ;; *) echo verified ;; esac; }
# The audit's verdict must be daneverify's: one `danegate daneverify` run per host
# (on the host's first domain) gives the word for every domain of that host.
DG_WORDS=()
expect_dg() { echo "${DG_WORDS[$1]}"; }
daneverify_words() {
    local h word
    for h in $(seq 1 "$HOSTS_N"); do
        word=$(run_daneverify "$DANEGATE" "$(printf 'd%04d.dom.test' "$h")" mandatory)
        case $word in
            success) DG_WORDS[h]=dane-success ;;
            failed) DG_WORDS[h]=dane-failed ;;
            fallback) DG_WORDS[h]=fallback ;;
            tempfail) DG_WORDS[h]=temp-fail ;;
            *) cat "$WORK/dg.out" "$WORK/dg.err" >&2; die "daneverify says $word for host $h" ;;
        esac
    done
    [ "${DG_WORDS[1]}" = dane-success ] || die "daneverify: ${DG_WORDS[1]} for a healthy host"
    [ "${DG_WORDS[18]}" = dane-failed ] || die "daneverify: ${DG_WORDS[18]} for a TLSA mismatch"
}

build_world() {
    local t0=$SECONDS h
    make_ca audit
    for h in $(seq 1 "$HOSTS_N"); do leaf "$(mx_name "$h")" "$(mx_name "$h").hosts.test"; done
    issue stranger stranger.invalid "DNS:stranger.invalid" int ext_leaf
    zones_init
    { soa hosts.test. ns.hosts.test.
      printf '@ NS ns\nns A 127.0.3.1\n'
      for h in $(seq 1 "$HOSTS_N"); do
          local n; n=$(mx_name "$h")
          printf '%s A 127.0.30.%s\n' "$n" "$h"
          case $h in
              18) printf '_25._tcp.%s %s\n' "$n" "$(tlsa 3 1 1 stranger)" ;;
              19) ;;
              *) printf '_25._tcp.%s %s\n' "$n" "$(tlsa 3 1 1 "$n")" ;;
          esac
      done
    } >"$Z/hosts.test.zone"
    make_keys_ldns hosts.test. ECDSAP256SHA256
    sign_ldns hosts.test. "$Z/hosts.test.zone"
    local ds_hosts; ds_hosts=$(ds_ldns)
    { soa dom.test. ns.dom.test.
      printf '@ NS ns\nns A 127.0.3.1\n'
      local i
      for i in $(seq 1 "$DOMAINS"); do
          printf 'd%04d MX 10 %s.hosts.test.\n' "$i" "$(mx_name "$(host_of "$i")")"
      done
    } >"$Z/dom.test.zone"
    make_keys_ldns dom.test. ECDSAP256SHA256
    sign_ldns dom.test. "$Z/dom.test.zone"
    local ds_dom; ds_dom=$(ds_ldns)
    make_upper_zones ECDSAP256SHA256 "$(
        delegation hosts 127.0.3.1 "$ds_hosts"
        delegation dom 127.0.3.1 "$ds_dom")"
    make_postfix_conf
    log "world built in $((SECONDS - t0)) s"
}

start_world() {
    local t0=$SECONDS h
    start_dns "children 127.0.3.1 hosts.test. dom.test."
    mkdir -p "$WORK/sinks"
    for h in $(seq 1 $(( HOSTS_N - 1 ))); do
        local n; n=$(mx_name "$h")
        "$SINK" --listen "127.0.30.$h:25" --hostname "$n.hosts.test" --count-only \
            --cert-chain "$CERTS/$n.chain.pem" --key "$CERTS/$n.key" \
            >"$WORK/sinks/$n.log" 2>&1 &
        CHILD_PIDS+=("$!")
    done
    for h in $(seq 1 $(( HOSTS_N - 1 ))); do
        wait_log "$WORK/sinks/$(mx_name "$h").log" "sink $(mx_name "$h")"
    done
    dig @127.0.0.1 +dnssec _25._tcp.mx01.hosts.test TLSA | grep -q 'flags:.* ad' \
        || die "Unbound does not validate _25._tcp.mx01.hosts.test TLSA (see $WORK/unbound)"
    log "servers up after $((SECONDS - t0)) s"
}

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $(( t / 1000 )); }

inside() {
    inner_setup "$1"
    build_world
    start_world
    local i list="$WORK/domains.txt"
    for i in $(seq 1 "$DOMAINS"); do printf 'd%04d.dom.test\n' "$i"; done >"$list"
    local audit_cmd=("$DANEGATE" audit --resolver 127.0.0.1 --trust-anchor "$WORK/root-anchor.zone"
                     --mode mandatory --timeout 5 --concurrency "$CONCURRENCY" --no-sts --input "$list")

    daneverify_words
    # Warm-up (untimed): Unbound's cache for both tools.
    "${audit_cmd[@]}" --json >"$WORK/warm.jsonl" 2>"$WORK/warm.err" \
        || { cat "$WORK/warm.err" >&2; die "the warm-up audit failed"; }

    # posttls-finger, one process per domain (-c: no SMTP chat; -L routine,certmatch:
    # the lines classify_postfix reads).
    mkdir -p "$WORK/pf"
    local t0 t1 pf_ms audit_ms
    t0=$(now_ms)
    while read -r d; do
        MAIL_CONFIG="$WORK/postfix" timeout 30 posttls-finger -c -v -l dane -t 5 -T 5 \
            -L routine,certmatch "$d" >"$WORK/pf/$d" 2>&1 || true
    done <"$list"
    t1=$(now_ms); pf_ms=$(( t1 - t0 ))

    t0=$(now_ms)
    "${audit_cmd[@]}" --json >"$WORK/audit.jsonl" 2>"$WORK/audit.err" \
        || { cat "$WORK/audit.err" >&2; die "the audit failed"; }
    t1=$(now_ms); audit_ms=$(( t1 - t0 ))
    "${audit_cmd[@]}" --html "$WORK/audit.html" >"$WORK/audit.txt" 2>&1 || true

    # Same verdicts: every domain, each tool against the world's expectation.
    local wrong=0 h want_pf want_dg got_pf got_dg
    jq -r '[.domain, .verdict] | @tsv' "$WORK/audit.jsonl" | sort >"$WORK/audit.tsv"
    [ "$(wc -l <"$WORK/audit.tsv")" = "$DOMAINS" ] || die "the audit gave $(wc -l <"$WORK/audit.tsv") results for $DOMAINS domains"
    i=0
    while IFS=$'\t' read -r d got_dg; do
        i=$(( 10#${d:1:4} ))
        h=$(host_of "$i")
        want_pf=$(expect_pf "$h"); want_dg=$(expect_dg "$h")
        got_pf=$(classify_postfix <"$WORK/pf/$d")
        if [ "$got_pf" != "$want_pf" ] || [ "$got_dg" != "$want_dg" ]; then
            wrong=$(( wrong + 1 ))
            [ "$wrong" -le 5 ] && log "$d ($(mx_name "$h")): posttls-finger $got_pf (want $want_pf), audit $got_dg (want $want_dg)"
        fi
    done <"$WORK/audit.tsv"
    [ "$wrong" = 0 ] || die "$wrong domains with other verdicts than expected (outputs in $WORK)"

    echo
    echo "audit vs posttls-finger loop: $DOMAINS domains, $HOSTS_N MX hosts, same verdicts for every domain"
    echo "  ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
    printf '%-34s %10s %12s\n' tool 'total s' 'ms / domain'
    awk -v t="$pf_ms" -v n="$DOMAINS" 'BEGIN { printf "%-34s %10.2f %12.2f\n", "posttls-finger loop", t / 1000, t / n }'
    awk -v t="$audit_ms" -v n="$DOMAINS" -v c="$CONCURRENCY" 'BEGIN { printf "%-34s %10.2f %12.2f\n", "danegate audit --concurrency " c, t / 1000, t / n }'
    awk -v a="$pf_ms" -v b="$audit_ms" 'BEGIN { printf "speed-up: %.1fx\n", a / (b > 0 ? b : 1) }'
    echo "audit summary:"
    sed 's/^/  /' "$WORK/audit.err"
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        log "outputs kept in $WORK"
    fi
}

if [ "${1:-}" = __inside ]; then
    inside "$2"
else
    outer
fi
