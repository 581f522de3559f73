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

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
SELF="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"

PROG=dnssec.sh
# shellcheck source=lib/common.sh
. "$SCRIPT_DIR/lib/common.sh"

# ---------------------------------------------------------------------------
# Outer part: checks, namespace, temp dir, cleanup. The real work is done by
# this same script re-executed inside the namespace ("inside" mode below).
# ---------------------------------------------------------------------------
outer() {
    need_tools ip nsd unbound ldns-keygen ldns-signzone ldns-key2ds \
               dnssec-keygen dnssec-signzone dnssec-dsfromkey delv dig jq timeout

    DANEGATE=${DANEGATE:-target/debug/danegate}
    if [ "$DANEGATE" != skip ]; then
        case "$DANEGATE" in /*) ;; *) DANEGATE="$REPO/$DANEGATE" ;; esac
        [ -x "$DANEGATE" ] || die "danegate binary '$DANEGATE' not found (run 'cargo build' first, or DANEGATE=skip to check the world with delv only)"
        local help
        help=$("$DANEGATE" lookup --help 2>&1 || true)
        grep -q -- '--trust-anchor' <<<"$help" \
            || die "'$DANEGATE lookup --help' does not document --trust-anchor: this binary has no usable 'lookup' command yet (use DANEGATE=skip to check the world with delv only)"
    fi
    export DANEGATE

    # Namespace, temp dir and cleanup: lib/common.sh.
    netns_run dg-int 127.0.1.1 127.0.2.1 127.0.3.1 127.0.4.1
}

# ---------------------------------------------------------------------------
# Inside the namespace (helpers for keys, zones and servers: lib/common.sh).
# ---------------------------------------------------------------------------
build_world() {
    local Z="$WORK/zones"
    KEYS="$WORK/keys"
    mkdir -p "$Z" "$KEYS"
    INCEPTION=$(ts '2 days ago')
    EXPIRATION=$(ts '30 days')
    local OLD_INCEPTION OLD_EXPIRATION
    OLD_INCEPTION=$(ts '40 days ago')
    OLD_EXPIRATION=$(ts '10 days ago')
    local TLSA_EE=8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1
    local TLSA_TA=b5bd7b4f1d5d9ac29d5e2c3b7e1a6ee08f0d4d0e3e2e7c1a8d4e2d0a9c3f7e6b

    # --- grandchildren (unsigned, served by 127.0.4.1) ----------------------
    { soa unsigned.sec13.test. ns.unsigned.sec13.test.
      cat <<'EOF'
@        NS    ns
ns       A     127.0.4.1
www      A     192.0.2.131
EOF
    } >"$Z/unsigned.sec13.test.zone"

    { soa island.optout.test. ns.island.optout.test.
      cat <<'EOF'
@        NS    ns
ns       A     127.0.4.1
www      A     192.0.2.141
EOF
    } >"$Z/island.optout.test.zone"

    # --- children of test. (served by 127.0.3.1) ---------------------------
    # insec.test: unsigned, no DS in test. (NSEC-proven insecure delegation)
    { soa insec.test. ns.insec.test.
      cat <<'EOF'
@        NS    ns
ns       A     127.0.3.1
@        MX    10 mail
mail     A     192.0.2.45
www      A     192.0.2.44
www2     CNAME www.sec8.test.
EOF
    } >"$Z/insec.test.zone"

    # sec8.test: RSASHA256 (8), NSEC, ldns-signzone.
    { soa sec8.test. ns.sec8.test.
      cat <<EOF
@        NS    ns
ns       A     127.0.3.1
@        MX    10 mail
mail     A     192.0.2.25
mail     AAAA  2001:db8::25
_25._tcp.mail TLSA 3 1 1 $TLSA_EE
www      A     192.0.2.80
*.wild   A     192.0.2.99
alias    CNAME www.sec15.test.
chain    CNAME alias
toinsec  CNAME www.insec.test.
tobogus  CNAME www.bogusds.test.
nosig    A     192.0.2.7
EOF
    } >"$Z/sec8.test.zone"
    make_keys_ldns sec8.test. RSASHA256
    sign_ldns sec8.test. "$Z/sec8.test.zone"
    # Missing RRSIG: drop the signature over nosig.sec8.test/A.
    awk -F'\t' '!($1=="nosig.sec8.test." && $4=="RRSIG" && $5 ~ /^A /)' \
        "$Z/sec8.test.zone.signed" >"$Z/sec8.test.zone.tmp"
    mv "$Z/sec8.test.zone.tmp" "$Z/sec8.test.zone.signed"
    local DS_SEC8; DS_SEC8=$(ds_ldns)

    # sec13.test: ECDSAP256SHA256 (13), NSEC3 (0 iterations, no salt).
    { soa sec13.test. ns.sec13.test.
      cat <<EOF
@        NS    ns
ns       A     127.0.3.1
@        MX    10 mail.sec8.test.
mail     A     192.0.2.26
_25._tcp.mail TLSA 2 0 1 $TLSA_TA
www      A     192.0.2.13
tampered A     192.0.2.66
*.wild   A     192.0.2.98
unsigned NS    ns.unsigned
ns.unsigned A  127.0.4.1
EOF
    } >"$Z/sec13.test.zone"
    make_keys_ldns sec13.test. ECDSAP256SHA256
    sign_ldns sec13.test. "$Z/sec13.test.zone" -n -a 1 -t 0 -s ''
    # Tampered RRSIG: flip one base64 character of the signature over
    # tampered.sec13.test/A (length and encoding stay valid).
    awk -F'\t' 'BEGIN{OFS="\t"}
        $1=="tampered.sec13.test." && $4=="RRSIG" && $5 ~ /^A / {
            n = split($5, f, " "); s = f[n]; c = substr(s, 20, 1)
            f[n] = substr(s, 1, 19) (c == "A" ? "B" : "A") substr(s, 21)
            $5 = f[1]; for (i = 2; i <= n; i++) $5 = $5 " " f[i]; hit = 1 }
        { print } END { if (!hit) exit 1 }' \
        "$Z/sec13.test.zone.signed" >"$Z/sec13.test.zone.tmp"
    mv "$Z/sec13.test.zone.tmp" "$Z/sec13.test.zone.signed"
    local DS_SEC13; DS_SEC13=$(ds_ldns)

    # sec15.test: ED25519 (15), NSEC, signed with BIND's dnssec-signzone.
    { soa sec15.test. ns.sec15.test.
      cat <<EOF
@        NS    ns
ns       A     127.0.3.1
@        MX    0 mail
mail     A     192.0.2.27
_25._tcp.mail TLSA 3 1 1 $TLSA_EE
www      A     192.0.2.15
EOF
    } >"$Z/sec15.test.zone"
    local BKSK BZSK
    BKSK="$KEYS/$(dnssec-keygen -q -K "$KEYS" -a ED25519 -f KSK sec15.test.)"
    BZSK="$KEYS/$(dnssec-keygen -q -K "$KEYS" -a ED25519 sec15.test.)"
    cat "$BKSK.key" "$BZSK.key" >>"$Z/sec15.test.zone"
    dnssec-signzone -q -d "$KEYS" -O full -o sec15.test. -s "$INCEPTION" -e "$EXPIRATION" \
        -K "$KEYS" -k "$BKSK" -f "$Z/sec15.test.zone.signed" "$Z/sec15.test.zone" "$BZSK" >/dev/null
    local DS_SEC15; DS_SEC15=$(dnssec-dsfromkey -2 "$BKSK.key")

    # optout.test: ECDSAP256SHA256, NSEC3 with opt-out, one unsigned delegation
    # that has no NSEC3 of its own (only covered by an opt-out span). Signed by
    # BIND: ldns-signzone -p sets the flag but still hashes the delegation.
    { soa optout.test. ns.optout.test.
      cat <<'EOF'
@        NS    ns
ns       A     127.0.3.1
www      A     192.0.2.140
island   NS    ns.island
ns.island A    127.0.4.1
EOF
    } >"$Z/optout.test.zone"
    BKSK="$KEYS/$(dnssec-keygen -q -K "$KEYS" -a ECDSAP256SHA256 -f KSK optout.test.)"
    BZSK="$KEYS/$(dnssec-keygen -q -K "$KEYS" -a ECDSAP256SHA256 optout.test.)"
    cat "$BKSK.key" "$BZSK.key" >>"$Z/optout.test.zone"
    dnssec-signzone -q -d "$KEYS" -O full -o optout.test. -s "$INCEPTION" -e "$EXPIRATION" \
        -3 - -H 0 -A -K "$KEYS" -k "$BKSK" -f "$Z/optout.test.zone.signed" "$Z/optout.test.zone" "$BZSK" >/dev/null
    local DS_OPTOUT; DS_OPTOUT=$(dnssec-dsfromkey -2 "$BKSK.key")
    # The delegation must not own an NSEC3 (else this is no opt-out test).
    if awk '$4 == "NSEC3" && $NF == "NS"' "$Z/optout.test.zone.signed" | grep -q .; then
        die "optout.test: the insecure delegation got an NSEC3 record; opt-out not exercised"
    fi

    # bogusds.test: properly signed, but the DS in test. is of a key that is
    # not in the zone (DS matches no DNSKEY).
    { soa bogusds.test. ns.bogusds.test.
      cat <<'EOF'
@        NS    ns
ns       A     127.0.3.1
www      A     192.0.2.150
EOF
    } >"$Z/bogusds.test.zone"
    make_keys_ldns bogusds.test. ECDSAP256SHA256
    sign_ldns bogusds.test. "$Z/bogusds.test.zone"
    local STRAY; STRAY=$( cd "$KEYS" && ldns-keygen -a ECDSAP256SHA256 -k bogusds.test. )
    local DS_BOGUS; DS_BOGUS=$(ldns-key2ds -n -2 "$KEYS/$STRAY.key")

    # expired.test: every signature expired 10 days ago.
    { soa expired.test. ns.expired.test.
      cat <<'EOF'
@        NS    ns
ns       A     127.0.3.1
www      A     192.0.2.160
EOF
    } >"$Z/expired.test.zone"
    make_keys_ldns expired.test. ECDSAP256SHA256
    ldns-signzone -o expired.test. -i "$OLD_INCEPTION" -e "$OLD_EXPIRATION" \
        -f "$Z/expired.test.zone.signed" "$Z/expired.test.zone" "$KSK" "$ZSK"
    local DS_EXPIRED; DS_EXPIRED=$(ds_ldns)

    # --- TLD test. (ECDSAP256SHA256, NSEC; served by 127.0.2.1) --------------
    { soa test. ns.nic.test.
      cat <<EOF
@        NS    ns.nic
ns.nic   A     127.0.2.1
insec    NS    ns.insec
ns.insec A     127.0.3.1
sec8     NS    ns.sec8
ns.sec8  A     127.0.3.1
$DS_SEC8
sec13    NS    ns.sec13
ns.sec13 A     127.0.3.1
$DS_SEC13
sec15    NS    ns.sec15
ns.sec15 A     127.0.3.1
$DS_SEC15
optout   NS    ns.optout
ns.optout A    127.0.3.1
$DS_OPTOUT
bogusds  NS    ns.bogusds
ns.bogusds A   127.0.3.1
$DS_BOGUS
expired  NS    ns.expired
ns.expired A   127.0.3.1
$DS_EXPIRED
dead     NS    ns.dead
ns.dead  A     127.0.3.1
EOF
    } >"$Z/test.zone"
    make_keys_ldns test. ECDSAP256SHA256
    sign_ldns test. "$Z/test.zone"
    local DS_TEST; DS_TEST=$(ds_ldns)

    # --- root . (RSASHA256, NSEC; served by 127.0.1.1) -----------------------
    { soa . ns.root.
      cat <<EOF
@        NS    ns.root.
ns.root. A     127.0.1.1
test.    NS    ns.nic.test.
ns.nic.test. A 127.0.2.1
$DS_TEST
EOF
    } >"$Z/root.zone"
    make_keys_ldns . RSASHA256
    sign_ldns . "$Z/root.zone"
    ROOT_DS=$(ds_ldns)

    # Trust anchors: zone-file syntax for danegate, named.conf syntax for delv.
    write_anchors "$ROOT_DS"
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
    build_world
    log "world built in $((SECONDS - t0)) s"

    start_nsd root 127.0.1.1 .
    start_nsd tld 127.0.2.1 test.
    start_nsd children 127.0.3.1 insec.test. sec8.test. sec13.test. sec15.test. \
        optout.test. bogusds.test. expired.test.
    start_nsd grandchildren 127.0.4.1 unsigned.sec13.test. island.optout.test.
    wait_dns 127.0.1.1 .
    wait_dns 127.0.2.1 test.
    wait_dns 127.0.3.1 sec8.test.
    wait_dns 127.0.4.1 island.optout.test.
    start_unbound
    wait_dns 127.0.0.1 . +rec
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
