#!/usr/bin/env bash
# Real-components integration stage for the danegate DNSSEC resolver.
#
# Builds a private, really-signed DNS hierarchy (root ".", TLD "test." and
# children covering secure / insecure / bogus / negative / wildcard / CNAME
# cases), serves it with NSD, runs Unbound as the recursive in front of it,
# and checks every case three ways: expected == delv == danegate.
#
# Everything runs inside a private network namespace; nothing listens outside
# it and no traffic leaves loopback. Must run as root:
#
#     sudo bash tests/integration/dnssec.sh
#
# Environment:
#     DANEGATE   path of the danegate binary (default: target/debug/danegate
#                relative to the repository root), or "skip" to check only
#                expected vs delv (to validate the world itself).
#     KEEP_WORK  if set to 1, keep the temp dir (zones, configs, logs) for
#                inspection; the namespace and processes are always removed.
#     FAIL_ON_PURPOSE  if set to 1, abort right after the servers are up
#                (used to check that a failed run leaves nothing behind).
set -euo pipefail

PROG=dnssec.sh
# shellcheck source=lib/world.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/world.sh"

# ---------------------------------------------------------------------------
# Outer part: checks, namespace, temp dir, cleanup. The real work is done by
# this same script re-executed inside the namespace ("inside" mode below).
# ---------------------------------------------------------------------------
outer() {
    need_tools ip nsd unbound ldns-keygen ldns-signzone ldns-key2ds \
               dnssec-keygen dnssec-signzone dnssec-dsfromkey delv dig jq timeout

    DANEGATE=${DANEGATE:-target/debug/danegate}
    if [ "$DANEGATE" != skip ]; then
        DANEGATE=$(abs "$DANEGATE")
        [ -x "$DANEGATE" ] || die "danegate binary '$DANEGATE' not found (run 'cargo build' first, or DANEGATE=skip to check the world with delv only)"
        local help
        help=$("$DANEGATE" lookup --help 2>&1 || true)
        grep -q -- '--trust-anchor' <<<"$help" \
            || die "'$DANEGATE lookup --help' does not document --trust-anchor: this binary has no usable 'lookup' command yet (use DANEGATE=skip to check the world with delv only)"
    fi
    export DANEGATE

    # Namespace, temp dir and cleanup: lib/common.sh.
    netns_run dg-int "${DNSSEC_NS_ADDRS[@]}"
}

# Classify delv's output (stdout+stderr) into one verdict word. delv runs
# with +cdflag so that it validates bogus data itself (without it, Unbound
# would answer SERVFAIL and delv would only echo Unbound's verdict). delv prints
# one status line per RRset of a CNAME chain; the chain is as secure as its
# weakest link. A negative end of the chain shows up as "ncache nxdomain" /
# "ncache nxrrset".
classify_delv() {
    local out kind sec
    out=$(cat)
    if grep -q '^;; resolution failed: ncache nxdomain' <<<"$out"; then
        kind=nxdomain
    elif grep -q '^;; resolution failed: ncache nxrrset' <<<"$out"; then
        kind=nodata
    elif grep -q '^;; resolution failed: .*timed out' <<<"$out"; then
        echo timeout; return
    elif grep -q '^;; resolution failed: \(failure\|.*SERVFAIL\)$' <<<"$out"; then
        # With +cdflag, delv gets the data whatever its DNSSEC state and says
        # why validation failed; a bare "failure" is the upstream's SERVFAIL.
        echo servfail; return
    elif grep -q '^;; resolution failed' <<<"$out"; then
        echo bogus; return
    else
        kind=answer
    fi
    if grep -q '^; \(negative response, \)\?unsigned answer' <<<"$out"; then
        sec=insecure
    elif grep -q '^; \(negative response, \)\?fully validated' <<<"$out"; then
        sec=secure
    else
        echo "unknown"; return
    fi
    if [ "$kind" = answer ]; then echo "$sec"; else echo "$kind-$sec"; fi
}

# Normalised records of type TYPE from zone-file lines on stdin:
# "owner TYPE rdata" with owner lower-cased without its final dot and the
# rdata lower-cased with all blanks removed (TTLs and comments dropped).
norm_records() { # norm_records TYPE
    awk -v t="$1" '
        /^;/ || NF < 3 { next }
        {
            sub(/[ \t]*;.*$/, "")            # trailing comment (delv DNSKEY)
            i = 2
            while (i <= NF && ($i ~ /^[0-9]+$/ || toupper($i) == "IN")) i++
            if (i > NF || toupper($i) != toupper(t)) next
            r = ""; for (j = i + 1; j <= NF; j++) r = r $j
            o = tolower($1); sub(/\.$/, "", o)
            print o, toupper(t), tolower(r)
        }' | sort -u
}

# Classify danegate's JSON output (stdin) into one verdict word; appends
# "/rc=N" when the exit code does not fit the verdict (0 answer, nxdomain,
# nodata; 1 bogus; 75 temporary failure).
classify_danegate() { # classify_danegate RC
    local rc=$1 v
    v=$(jq -r '
        if .status == "secure" or .status == "insecure" then
            if .kind == "answer" then .status
            elif .kind == "nxdomain" or .kind == "nodata" then .kind + "-" + .status
            else .status + "/kind=" + (.kind | tostring) end
        elif .status == "bogus" or .status == "servfail" or .status == "timeout" then .status
        else "status=" + (.status | tostring) end' 2>/dev/null) || v=""
    [ -n "$v" ] || { echo "unparsable(rc=$rc)"; return; }
    local want_rc=0
    case "$v" in
        bogus) want_rc=1 ;;
        servfail|timeout) want_rc=75 ;;
    esac
    [ "$rc" = "$want_rc" ] || v="$v/rc=$rc"
    echo "$v"
}

# name type expected  (comment)
CASES=$(cat <<'EOF'
www.sec8.test.                 A      secure             alg 8, NSEC zone
www.sec13.test.                A      secure             alg 13, NSEC3 zone
www.sec15.test.                A      secure             alg 15, NSEC zone signed by BIND
sec8.test.                     MX     secure             MX set
sec15.test.                    MX     secure             MX set, alg 15
mail.sec8.test.                AAAA   secure             MX host address
_25._tcp.mail.sec8.test.       TLSA   secure             TLSA 3 1 1, alg 8
_25._tcp.mail.sec13.test.      TLSA   secure             TLSA 2 0 1, NSEC3 zone
_25._tcp.mail.sec15.test.      TLSA   secure             TLSA, alg 15
sec8.test.                     DS     secure             DS at the parent
sec15.test.                    DNSKEY secure             DNSKEY set
www.insec.test.                A      insecure           no DS, proven by NSEC in test.
insec.test.                    MX     insecure           MX in an unsigned zone
www.unsigned.sec13.test.       A      insecure           no DS, proven by NSEC3 in sec13.test.
www.island.optout.test.        A      insecure           no DS, under NSEC3 opt-out parent
insec.test.                    DS     nodata-secure      signed proof of no DS (NSEC)
unsigned.sec13.test.           DS     nodata-secure      signed proof of no DS (NSEC3)
www.bogusds.test.              A      bogus              DS matches no DNSKEY
www.expired.test.              A      bogus              all RRSIGs expired
tampered.sec13.test.           A      bogus              corrupted RRSIG
nosig.sec8.test.               A      bogus              RRSIG stripped
nope.sec8.test.                A      nxdomain-secure    NSEC NXDOMAIN
nope.sec13.test.               A      nxdomain-secure    NSEC3 NXDOMAIN
_25._tcp.www.sec8.test.        TLSA   nxdomain-secure    no TLSA (NSEC)
_25._tcp.www.sec13.test.       TLSA   nxdomain-secure    no TLSA (NSEC3)
www.sec8.test.                 AAAA   nodata-secure      NSEC NODATA
www.sec13.test.                AAAA   nodata-secure      NSEC3 NODATA
sec15.test.                    TLSA   nodata-secure      NODATA at the apex, alg 15
nope.insec.test.               A      nxdomain-insecure  NXDOMAIN in an unsigned zone
www.insec.test.                AAAA   nodata-insecure    NODATA in an unsigned zone
nope.unsigned.sec13.test.      A      nxdomain-insecure  NXDOMAIN below NSEC3 insecure delegation
foo.wild.sec8.test.            A      secure             wildcard expansion, NSEC
foo.wild.sec13.test.           A      secure             wildcard expansion, NSEC3
foo.wild.sec8.test.            AAAA   nodata-secure      wildcard NODATA, NSEC
alias.sec8.test.               A      secure             CNAME secure -> secure
chain.sec8.test.               A      secure             CNAME -> CNAME -> A, all secure
toinsec.sec8.test.             A      insecure           CNAME secure -> insecure
www2.insec.test.               A      insecure           CNAME insecure -> secure
alias.sec8.test.               AAAA   nodata-secure      CNAME -> name with A only
tobogus.sec8.test.             A      bogus              CNAME secure -> bogus
www.optout.test.               A      secure             data in an opt-out zone
www.dead.test.                 A      servfail           lame delegation: its server REFUSES the zone
EOF
)

inside() {
    inner_setup "$1"

    local t0=$SECONDS
    dnssec_world_build
    log "world built in $((SECONDS - t0)) s"
    dnssec_world_start
    log "servers up after $((SECONDS - t0)) s"

    if [ "${FAIL_ON_PURPOSE:-0}" = 1 ]; then
        log "FAIL_ON_PURPOSE=1: aborting with servers running"
        false
    fi

    local passed=0 failed=0 name type expected comment rc dv dg status
    local dvout="$WORK/delv.out" dgout="$WORK/danegate.out" dgerr="$WORK/danegate.err"
    while read -r name type expected comment; do
        [ -n "$name" ] || continue
        timeout 20 delv @127.0.0.1 -a "$WORK/root-anchor.conf" +root=. +cdflag "$name" "$type" \
            >"$dvout" 2>&1 || true
        dv=$(classify_delv <"$dvout")
        if [ "$DANEGATE" = skip ]; then
            dg=skipped
        else
            rc=0
            timeout 20 "$DANEGATE" lookup --resolver 127.0.0.1 \
                --trust-anchor "$WORK/root-anchor.zone" --json "$name" "$type" \
                >"$dgout" 2>"$dgerr" || rc=$?
            dg=$(classify_danegate "$rc" <"$dgout")
            # Same verdict on a positive answer: the records must agree too.
            if [ "$dg" = "$dv" ] && { [ "$dg" = secure ] || [ "$dg" = insecure ]; }; then
                if ! diff <(norm_records "$type" <"$dvout") \
                          <(jq -r '(.records // [])[]' <"$dgout" | norm_records "$type") \
                          >"$WORK/records.diff"; then
                    dg="$dg/records-differ"
                fi
            fi
        fi
        status=ok
        if [ "$dv" != "$expected" ]; then
            status=FAIL
            printf '# world is wrong: delv says %s for %s %s, expected %s (%s)\n' \
                "$dv" "$name" "$type" "$expected" "$comment"
            sed 's/^/#   delv: /' "$dvout" | grep -v 'RRSIG' | head -n 8
        fi
        if [ "$dg" != skipped ] && [ "$dg" != "$expected" ]; then
            status=FAIL
            printf '# danegate disagrees on %s %s (%s):\n' "$name" "$type" "$comment"
            case "$dg" in
                */records-differ) sed 's/^/#   records (< delv, > danegate): /' "$WORK/records.diff" ;;
                *) { head -c 600 "$dgout"; echo; } | sed '/^$/d; s/^/#   stdout: /'
                   head -n 5 "$dgerr" | sed 's/^/#   stderr: /' ;;
            esac
        fi
        if [ "$status" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        printf '%-4s %-28s %-6s expected=%-17s delv=%-17s danegate=%s\n' \
            "$status" "$name" "$type" "$expected" "$dv" "$dg"
    done <<<"$CASES"

    log "finished after $((SECONDS - t0)) s"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

if [ "${1:-}" = __inside ]; then
    inside "$2"
else
    outer
fi
