# Shared helpers of the integration stages and the bench: process plumbing and the
# primitives every DNS world is built from. Sourced by lib/world.sh (which the stages
# source), never run. Bash only.
#
# The caller sets, before sourcing:
#     PROG      name used in error messages (e.g. "dnssec.sh")
#
# Provides:
#     REPO / SELF                     the repository root / the running script (re-executed
#                                     inside the namespace as: bash "$SELF" __inside "$WORK")
#     abs PATH                        PATH made absolute relative to $REPO
#     log / die                       '# ...' on stderr / fatal setup error (exit 2)
#     need_tools TOOL...              die if a tool is missing
#     netns_run PREFIX ADDR...        outer part: namespace, temp dir, cleanup trap,
#                                     runs "$SELF __inside $WORK" inside; returns its status
#     inner_setup WORK                inside part: traps, cd; children go to CHILD_PIDS
#     zones_init / ts / soa / delegation               zone files
#     make_keys_ldns / sign_ldns / ds_ldns / sign_bind signing
#     corrupt_rrsig FILE OWNER TYPE                     a bogus signature
#     make_upper_zones ROOT_ALG DELEGATIONS             test. and the root, signed, + anchors
#     write_anchors ROOT_DS           root-anchor.zone, root-anchor.conf, root.hints
#     start_nsd / start_unbound / wait_dns / start_dns  servers
#     wait_log FILE WHAT              wait for a "listening on" line (SMTP sinks)
#
# Optional knobs read by netns_run:
#     NETNS_RESOLV=1   also create /etc/netns/<ns>/resolv.conf ("nameserver 127.0.0.1",
#                      "options trust-ad"), which `ip netns exec` bind-mounts over
#                      /etc/resolv.conf (for programs using the libc resolver, e.g.
#                      Postfix); removed by the cleanup.
#     KEEP_WORK=1      keep the temp dir.

REPO=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../../..")
SELF=$(realpath "${BASH_SOURCE[-1]}")
abs() { case "$1" in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac; }

log() { printf '# %s\n' "$*" >&2; }
die() { printf '%s: error: %s\n' "${PROG:-integration}" "$*" >&2; exit 2; }

need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool' (see tests/integration/README.md)"
    done
}

# ---------------------------------------------------------------------------
# Outer part: namespace, temp dir, cleanup. The real work is done by the
# calling script re-executed inside the namespace ("__inside WORK").
# ---------------------------------------------------------------------------
netns_run() { # netns_run PREFIX ADDR...
    local prefix=$1; shift
    [ "$(id -u)" = 0 ] || die "must run as root (it creates a network namespace)"
    NETNS="$prefix-$$"
    WORK=$(mktemp -d -t "$prefix.XXXXXX")
    INNER_PID=""
    trap outer_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    ip netns add "$NETNS"
    NETNS_CREATED=1
    ip -n "$NETNS" link set lo up
    local a
    for a in "$@"; do
        ip -n "$NETNS" addr add "$a/32" dev lo
    done
    if [ "${NETNS_RESOLV:-0}" = 1 ]; then
        NETNS_ETC="/etc/netns/$NETNS"
        [ -d /etc/netns ] || NETNS_ETC_PARENT_CREATED=1
        mkdir -p "$NETNS_ETC"
        printf 'nameserver 127.0.0.1\noptions trust-ad\n' >"$NETNS_ETC/resolv.conf"
    fi
    log "namespace $NETNS, work dir $WORK"

    local rc=0
    ip netns exec "$NETNS" bash "$SELF" __inside "$WORK" &
    INNER_PID=$!
    wait "$INNER_PID" || rc=$?
    INNER_PID=""
    return "$rc"
}

outer_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "${INNER_PID:-}" ]; then
        kill -TERM "$INNER_PID" 2>/dev/null
    fi
    if [ -n "${NETNS_CREATED:-}" ]; then
        # Every process in this namespace was started by this script.
        local pids i
        pids=$(ip netns pids "$NETNS" 2>/dev/null)
        if [ -n "$pids" ]; then
            # shellcheck disable=SC2086
            kill -TERM $pids 2>/dev/null
            for i in 1 2 3 4 5 6 7 8 9 10; do
                pids=$(ip netns pids "$NETNS" 2>/dev/null)
                [ -z "$pids" ] && break
                sleep 0.2
            done
            # shellcheck disable=SC2086
            [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
        fi
        [ -n "${INNER_PID:-}" ] && wait "$INNER_PID" 2>/dev/null
        ip netns del "$NETNS" 2>/dev/null || log "could not delete namespace $NETNS"
    fi
    if [ -n "${NETNS_ETC:-}" ] && [ -d "$NETNS_ETC" ]; then
        rm -f "$NETNS_ETC/resolv.conf"
        rmdir "$NETNS_ETC" 2>/dev/null || log "could not remove $NETNS_ETC"
        # /etc/netns itself only if this run created it (and nobody uses it now).
        [ -n "${NETNS_ETC_PARENT_CREATED:-}" ] && rmdir /etc/netns 2>/dev/null
    fi
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ "${KEEP_WORK:-0}" = 1 ]; then
            log "kept work dir $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}

# ---------------------------------------------------------------------------
# Inside the namespace.
# ---------------------------------------------------------------------------
CHILD_PIDS=()

inner_setup() { # inner_setup WORK
    WORK=$1
    trap inner_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    cd "$WORK"   # tools such as dnssec-signzone drop files in the cwd
}

inner_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    local p
    for p in "${CHILD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${CHILD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    exit "$rc"
}

# Date helpers (UTC, YYYYMMDDHHMMSS).
ts() { date -u -d "$1" +%Y%m%d%H%M%S; }

# zones_init: Z (zone files) and KEYS directories, INCEPTION / EXPIRATION of the
# signatures (2 days ago / in 30 days).
zones_init() {
    Z="$WORK/zones"
    KEYS="$WORK/keys"
    mkdir -p "$Z" "$KEYS"
    INCEPTION=$(ts '2 days ago')
    EXPIRATION=$(ts '30 days')
}

# make_keys_ldns ZONE ALG  -> sets KSK ZSK (paths without extension, in $KEYS).
make_keys_ldns() {
    local zone=$1 alg=$2 bits=()
    [ "$alg" = RSASHA256 ] && bits=(-b 2048)
    ( cd "$KEYS" && ldns-keygen -a "$alg" "${bits[@]}" -k "$zone" ) >"$KEYS/.ksk"
    ( cd "$KEYS" && ldns-keygen -a "$alg" "${bits[@]}" "$zone" ) >"$KEYS/.zsk"
    KSK="$KEYS/$(cat "$KEYS/.ksk")"
    ZSK="$KEYS/$(cat "$KEYS/.zsk")"
}

# sign_ldns ZONE FILE [extra ldns-signzone options...] -> FILE.signed
# (uses KSK ZSK INCEPTION EXPIRATION)
sign_ldns() {
    local zone=$1 file=$2; shift 2
    ldns-signzone -o "$zone" -i "$INCEPTION" -e "$EXPIRATION" "$@" \
        -f "$file.signed" "$file" "$KSK" "$ZSK"
}

ds_ldns() { ldns-key2ds -n -2 "$KSK.key"; }

# sign_bind ZONE ALG FILE [dnssec-signzone options...] -> FILE.signed, signed with
# BIND's tools (a KSK and a ZSK made here, added to FILE); sets BIND_DS (SHA-256).
sign_bind() {
    local zone=$1 alg=$2 file=$3 ksk zsk; shift 3
    ksk="$KEYS/$(dnssec-keygen -q -K "$KEYS" -a "$alg" -f KSK "$zone")"
    zsk="$KEYS/$(dnssec-keygen -q -K "$KEYS" -a "$alg" "$zone")"
    cat "$ksk.key" "$zsk.key" >>"$file"
    dnssec-signzone -q -d "$KEYS" -O full -o "$zone" -s "$INCEPTION" -e "$EXPIRATION" "$@" \
        -K "$KEYS" -k "$ksk" -f "$file.signed" "$file" "$zsk" >/dev/null
    BIND_DS=$(dnssec-dsfromkey -2 "$ksk.key")
}

# corrupt_rrsig FILE OWNER TYPE: flip one base64 character of the RRSIG over
# OWNER/TYPE in an ldns-signed zone file (length and encoding stay valid).
corrupt_rrsig() {
    local file=$1 owner=$2 type=$3
    awk -F'\t' -v o="$owner" -v t="$type" 'BEGIN{OFS="\t"}
        $1==o && $4=="RRSIG" && index($5, t " ") == 1 {
            n = split($5, f, " "); s = f[n]; c = substr(s, 20, 1)
            f[n] = substr(s, 1, 19) (c == "A" ? "B" : "A") substr(s, 21)
            $5 = f[1]; for (i = 2; i <= n; i++) $5 = $5 " " f[i]; hit = 1 }
        { print } END { if (!hit) exit 1 }' "$file" >"$file.tmp" \
        || die "corrupt_rrsig: no RRSIG over $owner/$type in $file"
    mv "$file.tmp" "$file"
}

soa() { # soa ZONE NSNAME
    local rname="hostmaster.$1"
    [ "$1" = . ] && rname=hostmaster.root.
    printf '$TTL 3600\n$ORIGIN %s\n@ IN SOA %s %s 1 3600 900 604800 300\n' "$1" "$2" "$rname"
}

# delegation LABEL ADDR [DS]: the lines delegating LABEL (relative to the parent) to
# ns.LABEL at ADDR, with its DS record when given (a signed child).
delegation() {
    printf '%-10s NS    ns.%s\nns.%-7s A     %s\n' "$1" "$1" "$1" "$2"
    [ -z "${3:-}" ] || printf '%s\n' "$3"
}

# make_upper_zones ROOT_ALG DELEGATIONS: the TLD test. (ECDSAP256SHA256, NSEC, ldns;
# served by 127.0.2.1) holding DELEGATIONS (zone-file lines, see delegation), and the
# root . (ROOT_ALG, NSEC, ldns; 127.0.1.1) delegating test. with its DS; then the
# root's DS as the only trust anchor (write_anchors). Needs zones_init.
make_upper_zones() {
    local root_alg=$1 delegations=$2 ds_test
    { soa test. ns.nic.test.
      printf '@          NS    ns.nic\nns.nic     A     127.0.2.1\n%s\n' "$delegations"
    } >"$Z/test.zone"
    make_keys_ldns test. ECDSAP256SHA256
    sign_ldns test. "$Z/test.zone"
    ds_test=$(ds_ldns)

    { soa . ns.root.
      cat <<EOF
@        NS    ns.root.
ns.root. A     127.0.1.1
test.    NS    ns.nic.test.
ns.nic.test. A 127.0.2.1
$ds_test
EOF
    } >"$Z/root.zone"
    make_keys_ldns . "$root_alg"
    sign_ldns . "$Z/root.zone"
    write_anchors "$(ds_ldns)"
}

# write_anchors ROOT_DS: the root DS as the only trust anchor, in zone-file
# syntax (Unbound, danegate --trust-anchor) and named.conf syntax (delv -a),
# plus root hints pointing at 127.0.1.1.
write_anchors() {
    printf '%s\n' "$1" >"$WORK/root-anchor.zone"
    echo "$1" | awk '{ printf "trust-anchors {\n    . static-ds %s %s %s \"%s\";\n};\n", $(NF-3), $(NF-2), $(NF-1), $NF }' \
        >"$WORK/root-anchor.conf"
    printf '.            3600000 NS ns.root.\nns.root.     3600000 A  127.0.1.1\n' >"$WORK/root.hints"
}

start_nsd() { # start_nsd NAME ADDRESS ZONE...
    local name=$1 addr=$2; shift 2
    local d="$WORK/nsd-$name" z
    mkdir -p "$d"
    {
        cat <<EOF
server:
    ip-address: $addr
    port: 53
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$WORK/zones"
    zonelistfile: "$d/zone.list"
    xfrdfile: "$d/xfrd.state"
    xfrdir: "$d"
    pidfile: "$d/nsd.pid"
    logfile: "$d/nsd.log"
    server-count: 1
    verbosity: 1
    hide-version: yes
remote-control:
    control-enable: no
EOF
        for z in "$@"; do
            local f="${z%.}.zone.signed"
            [ "$z" = . ] && f=root.zone.signed
            [ -f "$WORK/zones/$f" ] || f="${z%.}.zone"
            printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n' "$z" "$WORK/zones/$f"
        done
    } >"$d/nsd.conf"
    nsd-checkconf "$d/nsd.conf" || die "nsd-checkconf failed for $name"
    nsd -d -c "$d/nsd.conf" >"$d/stdout.log" 2>&1 &
    CHILD_PIDS+=("$!")
}

start_unbound() {
    local d="$WORK/unbound"
    mkdir -p "$d"
    cat >"$d/unbound.conf" <<EOF
server:
    interface: 127.0.0.1
    port: 53
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    chroot: ""
    username: ""
    directory: "$d"
    pidfile: "$d/unbound.pid"
    use-syslog: no
    logfile: "$d/unbound.log"
    verbosity: 1
    val-log-level: 2
    root-hints: "$WORK/root.hints"
    trust-anchor-file: "$WORK/root-anchor.zone"
    module-config: "validator iterator"
    val-permissive-mode: no
    do-not-query-localhost: no
    trust-anchor-signaling: no
    root-key-sentinel: no
    # "test." is a special-use name that Unbound answers locally by default.
    local-zone: "test." nodefault
remote-control:
    control-enable: no
EOF
    unbound-checkconf "$d/unbound.conf" >/dev/null || die "unbound-checkconf failed"
    unbound -d -c "$d/unbound.conf" >"$d/stdout.log" 2>&1 &
    CHILD_PIDS+=("$!")
}

# start_dns "NAME ADDR ZONE..." ...: NSD for the root (127.0.1.1) and test.
# (127.0.2.1), one more NSD per argument (NAME ADDR ZONE...), then Unbound on
# 127.0.0.1; returns when every server answers (for its first zone).
start_dns() {
    local g args
    start_nsd root 127.0.1.1 .
    start_nsd tld 127.0.2.1 test.
    for g in "$@"; do read -r -a args <<<"$g"; start_nsd "${args[@]}"; done
    wait_dns 127.0.1.1 .
    wait_dns 127.0.2.1 test.
    for g in "$@"; do read -r -a args <<<"$g"; wait_dns "${args[1]}" "${args[2]}"; done
    start_unbound
    wait_dns 127.0.0.1 . +rec
}

# wait_log FILE WHAT: waits (5 s at most) for a line "listening on ..." in FILE (an
# SMTP sink's log); dies with the log otherwise.
wait_log() {
    local i
    for i in $(seq 1 100); do
        grep -q '^listening on' "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    cat "$1" >&2
    die "$2 did not start"
}

wait_dns() { # wait_dns ADDRESS QNAME [+rec|+norec]
    local i
    for i in $(seq 1 50); do
        if dig @"$1" "$2" SOA +cd "${3:-+norec}" +time=1 +tries=1 2>/dev/null | grep -q 'status: NOERROR'; then
            return 0
        fi
        sleep 0.1
    done
    die "server $1 did not answer for $2 (see logs in $WORK)"
}
