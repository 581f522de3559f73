#!/usr/bin/env bash
# Real-components integration stage for DANE for SMTP (RFC 7672).
#
# Builds a signed DNS hierarchy whose domains have MX hosts on 127.0.10.N,
# each served by a danegate-smtp-sink (STARTTLS, certificates made here with
# openssl, TLSA records computed from them), serves the zones with NSD, runs
# Unbound as the validating recursive, and checks every domain two ways:
#
#   danegate daneverify --mode mandatory|opportunistic DOMAIN
#                                  (its own DNSSEC validation from the root DS)
#   posttls-finger -v -l dane DOMAIN   (Postfix; trusts Unbound's AD bit)
#
# against the expected verdicts (the CASES table). Where Postfix and
# danegate's Mandatory table legitimately differ, the case says so and the
# reason is printed (see tests/integration/README.md).
#
# Everything runs inside a private network namespace; nothing listens outside
# it and no traffic leaves loopback. Must run as root:
#
#     cargo build --workspace && sudo bash tests/integration/dane.sh
#
# Environment:
#     DANEGATE   danegate binary (default target/debug/danegate), or "skip"
#     POSTFIX    "skip" to not run posttls-finger
#     SINK       danegate-smtp-sink binary (default target/debug/danegate-smtp-sink)
#     KEEP_WORK  1: keep the temp dir (certs, zones, configs, logs)
#     HOLD       N: keep the world up N seconds after the cases (manual probing:
#                ip netns exec dg-dane-PID ...)
#     FAIL_ON_PURPOSE  1: abort right after the servers are up (cleanup check)
set -euo pipefail

PROG=dane.sh
# shellcheck source=lib/world.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/world.sh"

outer() {
    need_tools ip nsd unbound ldns-keygen ldns-signzone ldns-key2ds dig openssl \
               timeout sha256sum sha512sum od awk
    SINK=$(abs "${SINK:-target/debug/danegate-smtp-sink}")
    [ -x "$SINK" ] || die "sink binary '$SINK' not found (run 'cargo build --workspace' or 'cargo build -p danegate-smtp-sink')"
    DANEGATE=${DANEGATE:-target/debug/danegate}
    if [ "$DANEGATE" != skip ]; then
        DANEGATE=$(abs "$DANEGATE")
        [ -x "$DANEGATE" ] || die "danegate binary '$DANEGATE' not found (run 'cargo build --workspace', or DANEGATE=skip)"
        "$DANEGATE" daneverify --help >/dev/null 2>&1 \
            || die "'$DANEGATE daneverify --help' fails: no usable 'daneverify' command yet (use DANEGATE=skip to check the world with posttls-finger only)"
    fi
    POSTFIX=${POSTFIX:-run}
    [ "$POSTFIX" = skip ] || need_tools posttls-finger
    if [ "$DANEGATE" = skip ] && [ "$POSTFIX" = skip ]; then log "DANEGATE=skip and POSTFIX=skip: only building the world"; fi
    export SINK DANEGATE POSTFIX
    NETNS_RESOLV=1 netns_run dg-dane "${DANE_NS_ADDRS[@]}"
}

# What a client at the "dane" level does with posttls-finger's verdict word
# (see run_posttls_finger): the action comparable to danegate's Mandatory verdict.
#   verified / trusted             -> success   (DANE-authenticated TLS)
#   nodane / untrusted / anonymous -> fallback  (no usable TLSA: Postfix's smtp(8)
#                                                sends over unauthenticated TLS)
#   everything else                -> failed    (not delivered now: deferred)
# danegate's "tempfail" (exit 75) is a "failed" action too: DANE FAIL in the
# appliance's tables also means "stays in the queue, retried".
pf_action() {
    case "$1" in
        verified|trusted) echo success ;;
        nodane|untrusted|anonymous) echo fallback ;;
        *) echo failed ;;
    esac
}
dg_action() { case "$1" in tempfail) echo failed ;; *) echo "$1" ;; esac; }

# domain   danegate --mode mandatory   --mode opportunistic   posttls-finger   what it covers
CASES=$(cat <<'EOF'
ee311.sec.test         success   success   verified    DANE-EE 3 1 1, RSA leaf from an intermediate
ee301.sec.test         success   success   verified    DANE-EE 3 0 1, self-signed leaf
ee312.sec.test         success   success   verified    DANE-EE 3 1 2, server TLS 1.2 only
ta201.sec.test         success   success   verified    DANE-TA 2 0 1 on the presented intermediate
ta211.sec.test         success   success   verified    DANE-TA 2 1 1 on the root CA key, full chain presented
mismatch.sec.test      failed    failed    certfail    TLSA 3 1 1 of a key the server does not have
unusable.sec.test      failed    fallback  nodane      only PKIX-EE 1 1 1 / PKIX-TA 0 0 1 (unusable): TLS mandatory, unauthenticated
nostarttls.sec.test    failed    failed    notls       secure TLSA, server offers no STARTTLS: never plain text
insecmx.insec.test     failed    fallback  trusted     insecure MX RRset, MX host secure with a right TLSA
insecaddr.sec.test     failed    fallback  nodane      secure MX, MX host in an unsigned zone (its TLSA is ignored)
notlsa.sec.test        failed    fallback  nodane      no TLSA (secure NXDOMAIN at _25._tcp)
bogustlsa.sec.test     failed    failed    dnserror    TLSA with a corrupted RRSIG
bogusmx.sec.test       failed    failed    dnserror    MX with a corrupted RRSIG
firstfails.sec.test    success   success   certfail    first MX: wrong TLSA; second MX: right TLSA
cname.sec.test         success   success   verified    MX host is a CNAME, TLSA at the target
nomx.sec.test          success   success   verified    no MX: the domain is the implicit MX
eeexpired.sec.test     success   success   verified    DANE-EE with an expired leaf: dates ignored
taexpired.sec.test     failed    failed    certfail    DANE-TA with an expired leaf: dates checked
tawrongname.sec.test   failed    failed    certfail    DANE-TA, leaf names neither the MX host nor the domain
agilityok.sec.test     success   success   verified    digest agility: 3 1 2 right, 3 1 1 wrong (server TLS 1.3 only)
agilityfail.sec.test   failed    failed    certfail    digest agility: 3 1 1 right, 3 1 2 wrong: only SHA2-512 counts
down.sec.test          tempfail  tempfail  noconnect   the only MX host refuses connections
lame.test              tempfail  tempfail  dnserror    lame delegation: SERVFAIL for the MX lookup
EOF
)

# Why danegate (the appliance's Mandatory table) and Postfix differ, per case
# whose Postfix action is not danegate's Mandatory verdict.
declare -A WHY=(
    [unusable.sec.test]="only unusable TLSA: both use mandatory unauthenticated TLS (RFC 7672 §2.2); Postfix delivers over it, the Mandatory table requires an authenticated certificate"
    [insecmx.insec.test]="insecure MX RRset: Postfix does DANE for the MX host (RFC 7672 §2.2.1, smtp_tls_dane_insecure_mx_policy=dane) and logs it as Trusted; the Mandatory table needs a secure MX (Opportunistic: fallback)"
    [insecaddr.sec.test]="insecure MX host address: neither does DANE (no TLSA lookup, RFC 7672 §2.2.2); Postfix falls back to opportunistic TLS, the Mandatory table fails (Opportunistic: fallback)"
    [notlsa.sec.test]="no TLSA: Postfix falls back to opportunistic TLS, the Mandatory table fails (Opportunistic: fallback)"
    [firstfails.sec.test]="posttls-finger only probes the first MX host it reaches and stops there; Postfix's smtp(8) (and danegate) go on to the next MX"
)

# Lines danegate's output must contain, per case (grep -F), beyond the verdict.
declare -A DG_MUST=(
    [firstfails.sec.test]="Trying next MX record in firstfails.sec.test"
    [nostarttls.sec.test]="SECURE TLSA record found for MX(mx.nostarttls.sec.test) in nostarttls.sec.test"
    [bogustlsa.sec.test]="BOGUS TLSA record found for MX(mx.bogustlsa.sec.test) in bogustlsa.sec.test"
    [bogusmx.sec.test]="BOGUS MX record found for bogusmx.sec.test"
    [insecaddr.sec.test]="INSECURE A record (127.0.10.9) found for MX(mx.insec.test) in insecaddr.sec.test"
    [insecmx.insec.test]="INSECURE MX record(mx.insecmx.sec.test) found for insecmx.insec.test"
)

inside() {
    inner_setup "$1"
    local t0=$SECONDS
    dane_world_build
    dane_world_start
    if [ "${FAIL_ON_PURPOSE:-0}" = 1 ]; then
        log "FAIL_ON_PURPOSE=1: aborting with servers running"
        false
    fi

    local passed=0 failed=0 domain exp_man exp_opp exp_pf note man opp pf status act mode exp v
    local -A got
    mkdir -p "$WORK/out"
    while read -r domain exp_man exp_opp exp_pf note; do
        [ -n "$domain" ] || continue
        status=ok
        man=skipped opp=skipped pf=skipped
        if [ "$DANEGATE" != skip ]; then
            for mode in mandatory opportunistic; do
                exp=$exp_man
                [ "$mode" = opportunistic ] && exp=$exp_opp
                v=$(run_daneverify "$DANEGATE" "$domain" "$mode")
                if [ -n "${DG_MUST[$domain]:-}" ] && ! grep -qF -- "${DG_MUST[$domain]}" "$WORK/dg.out"; then
                    v="$v/missing-line"
                fi
                if [ "$v" != "$exp" ]; then
                    status=FAIL
                    printf '# danegate --mode %s disagrees on %s (%s): expected %s, got %s\n' \
                        "$mode" "$domain" "$note" "$exp" "$v"
                    [ -z "${DG_MUST[$domain]:-}" ] || printf '#   (its output must contain: %s)\n' "${DG_MUST[$domain]}"
                    sed 's/^/#   stdout: /' "$WORK/dg.out" | head -n 30
                    head -n 10 "$WORK/dg.err" | sed 's/^/#   stderr: /'
                fi
                # Keep each case's outputs (KEEP_WORK=1 to look at them).
                cp "$WORK/dg.out" "$WORK/out/$domain.$mode.out"
                cp "$WORK/dg.err" "$WORK/out/$domain.$mode.err"
                got[$mode]=$v
            done
            man=${got[mandatory]} opp=${got[opportunistic]}
        fi
        if [ "$POSTFIX" != skip ]; then
            pf=$(run_posttls_finger "$domain")
            cp "$WORK/pf.out" "$WORK/out/$domain.posttls-finger.out"
            if [ "$pf" != "$exp_pf" ]; then
                status=FAIL
                printf '# posttls-finger disagrees on %s (%s): expected %s, got %s\n' "$domain" "$note" "$exp_pf" "$pf"
                grep -v '^$' "$WORK/pf.out" | grep -v ': dns_\|: ctable_\|: lookup \|: addr_one' \
                    | tail -n 12 | sed 's/^/#   posttls-finger: /'
            fi
        fi
        act=$(pf_action "$exp_pf")
        if [ "$act" != "$(dg_action "$exp_man")" ]; then
            printf '# %s: danegate %s, Postfix %s (%s): %s\n' "$domain" "$exp_man" "$act" "$exp_pf" \
                "${WHY[$domain]:-(no reason recorded: fix the CASES/WHY tables)}"
            [ -n "${WHY[$domain]:-}" ] || status=FAIL
        fi
        if [ "$status" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        printf '%-4s %-21s expected=%s/%s/%s  danegate=%s/%s  postfix=%s\n' \
            "$status" "$domain" "$exp_man" "$exp_opp" "$exp_pf" "$man" "$opp" "$pf"
    done <<<"$CASES"

    log "finished after $((SECONDS - t0)) s"
    if [ "${HOLD:-0}" -gt 0 ]; then
        log "HOLD=$HOLD: world up for $HOLD s (ip netns exec $(ip netns identify 2>/dev/null || echo '<ns>') ...; work dir $WORK)"
        sleep "$HOLD"
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

if [ "${1:-}" = __inside ]; then
    inside "$2"
else
    outer
fi
