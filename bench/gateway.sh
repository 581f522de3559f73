#!/usr/bin/env bash
# Bench: danegate (the gateway, `danegate serve`) vs Postfix as an outbound
# relay delivering over DANE-authenticated TLS, under the same load, in one run.
#
# World (the gateway bench world in tests/integration/lib/world.sh): a signed
# private hierarchy . / test. / bench.test. served by NSD, Unbound validating from the private root DS, and one MX host
# mx.bench.test (127.0.20.1:25, DANE-EE 3 1 1) served by
# `danegate-smtp-sink --count-only`, which counts messages without keeping them.
# Everything runs in a private network namespace on loopback.
#
# For each MTA: `danegate-smtp-load` submits N messages of SIZE bytes to
# user@bench.test from M concurrent clients (each reusing its connection), and
# the sink counts deliveries:
#
#   danegate  listener 127.0.0.1:2525, RELAY for 127.0.0.1, resolver Unbound,
#             trust_anchor_file = the private root DS, destination bench.test
#             with dane = "mandatory", tls = "required", other limits default.
#   Postfix   a private instance (postfix -c DIR start) on 127.0.0.2:25,
#             smtp_tls_security_level = dane, smtp_dns_support_level = dnssec
#             (trusts Unbound's AD bit), concurrency limits default.
#
# Measured per MTA: accepted msgs/s and accept latency p50/p99 (end of DATA ->
# 250, from the load generator), delivered msgs/s (first submission -> the
# sink's N-th message), peak memory (danegate: VmHWM of its one process;
# Postfix: peak of the summed PSS, and of the summed RSS, of master + its
# daemons, sampled every 0.5 s; the largest single VmHWM too).
#
# QUEUE_100K=1 instead: danegate only; 100k small messages to
# user@down.bench.test (secure MX whose address has no listener: everything
# stays queued), then danegate's VmHWM/VmRSS and the size of its data dir.
#
# Queue backends (MTAS entries besides "danegate", which uses the embedded SQLite
# queue): "danegate_pg" is one danegate node on a PostgreSQL queue, "danegate_pg2" two
# danegate serve nodes (gw1 on 127.0.0.1:2525, gw2 on 127.0.0.1:2526) sharing one
# PostgreSQL queue, the load split over both listeners (two load generators, N/2
# messages and M/2 clients each). PostgreSQL (Debian's postgresql package) runs in the
# namespace as user postgres, data directory on the queue disk, Unix socket only,
# default durability (fsync on, synchronous_commit on); a fresh database per run. Its
# CPU time is measured in its own cgroup and reported beside danegate's, with its
# transactions (pg_stat_database xact_commit: each statement outside a transaction
# counts as one, reads included) and WAL bytes per message. Compare the three in one run with
#     MTAS="danegate danegate_pg danegate_pg2"
# (a queue report replaces the danegate/Postfix one). QUEUE=postgres [NODES=2] is a
# shorthand that turns "danegate" in MTAS into danegate_pg [danegate_pg2].
#
# Not run by CI; no assertions on timings. Must run as root:
#
#     cargo build --release -p danegate -p danegate-smtp-sink -p danegate-smtp-load
#     sudo bash bench/gateway.sh
#
# Environment:
#     N            messages per MTA (default 2000)
#     M            concurrent clients (default 20)
#     SIZE         message size in bytes (default 2048)
#     MTAS         "danegate postfix" (default), or one of them; also danegate_pg,
#                  danegate_pg2 (see above)
#     QUEUE        postgres: "danegate" in MTAS runs on PostgreSQL (NODES: 1 or 2)
#     PG_BIN       PostgreSQL's bin directory (default: the newest /usr/lib/postgresql/*/bin)
#     QUEUE_100K   1: the queued-memory mode above (Q_N default 100000,
#                  Q_SIZE default 512, Q_SETTLE seconds after the last
#                  submission before measuring, default 15)
#     PF_TLS_REUSE 1: Postfix with smtp_tls_connection_reuse = yes (TLS
#                  connections kept in its connection cache via tlsproxy(8);
#                  off by default in Postfix, so each delivery is a new TLS session)
#     RCPTS        recipients per message (default 1; N > 1: user+0..N-1@bench.test,
#                  one transaction; the report adds delivered recipients/s)
#     ROUNDS       alternating rounds (default 1): danegate, postfix, danegate, ...
#                  one report per round (ratios within a round mean something on a
#                  shared machine, absolute figures less)
#     DISK_LOOP    1 (default): both MTAs' queues on a private ext4 file system on a
#                  loop device, so that /proc/diskstats counts their writes only
#                  (journal included); 0: in the temp dir, no disk figures
#     PERF         1: perf record -g of danegate during each measured run; the
#                  top of perf report in $WORK/danegate.N.perf.txt (KEEP_WORK=1)
#     DG_CACHE_MS  danegate's server.connection_cache_idle_ms (default: its default,
#                  2000; 0 turns the delivery connection cache off, for an A/B run)
#     DELIVER_TIMEOUT  seconds to wait for the sink to count N (default 900)
#     DEBUG        1: danegate serve --debug (every DNS/DANE step in its log)
#     SHADOW       0: danegate serve --no-shadow (no shadow DANE evaluation of the
#                  deliveries; default 1); the report prints danegate's CPU time
#                  per message over the measured run either way
#     DANEGATE / SINK / LOAD  binaries (default target/release/...)
#     KEEP_WORK    1: keep the temp dir (configs, logs, JSON results)
set -euo pipefail

PROG=gateway.sh
# shellcheck source=../tests/integration/lib/world.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/lib/world.sh"
# shellcheck source=lib/mem.sh
. "$REPO/bench/lib/mem.sh"

outer() {
    need_tools ip nsd unbound ldns-keygen ldns-signzone ldns-key2ds dig openssl \
               timeout sha256sum od awk jq pgrep du
    SINK=$(abs "${SINK:-target/release/danegate-smtp-sink}")
    DANEGATE=$(abs "${DANEGATE:-target/release/danegate}")
    LOAD=$(abs "${LOAD:-target/release/danegate-smtp-load}")
    local b
    for b in "$SINK" "$DANEGATE" "$LOAD"; do
        [ -x "$b" ] || die "'$b' not found (cargo build --release -p danegate -p danegate-smtp-sink -p danegate-smtp-load)"
    done
    "$SINK" --help | grep -q -- --count-only || die "'$SINK' has no --count-only (rebuild it)"
    QUEUE_100K=${QUEUE_100K:-0}
    MTAS=${MTAS:-danegate postfix}
    if [ "${QUEUE:-sqlite}" = postgres ]; then
        local pgm=danegate_pg
        [ "${NODES:-1}" = 2 ] && pgm=danegate_pg2
        MTAS=$(sed -E "s/(^| )danegate( |\$)/\1$pgm\2/" <<<"$MTAS")
    fi
    if [[ " $MTAS " == *" danegate_pg"* ]]; then
        PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
        [ -x "${PG_BIN:-/nonexistent}/postgres" ] \
            || die "PostgreSQL not found (apt-get install postgresql, or set PG_BIN)"
        command -v setpriv >/dev/null 2>&1 || die "setpriv (util-linux) not found"
        export PG_BIN
    fi
    [ "$QUEUE_100K" = 1 ] && MTAS=danegate
    if [[ " $MTAS " == *" postfix "* ]] && ! command -v postfix >/dev/null 2>&1 \
        && ! [ -x /usr/sbin/postfix ]; then
        log "installing postfix (apt-get, debconf: No configuration)"
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >/dev/null \
            || die "could not install postfix"
    fi
    PATH=$PATH:/usr/sbin
    N=${N:-2000} M=${M:-20} SIZE=${SIZE:-2048}
    Q_N=${Q_N:-100000} Q_SIZE=${Q_SIZE:-512} Q_SETTLE=${Q_SETTLE:-15}
    DELIVER_TIMEOUT=${DELIVER_TIMEOUT:-900} DEBUG=${DEBUG:-0} SHADOW=${SHADOW:-1}
    PF_TLS_REUSE=${PF_TLS_REUSE:-0}
    RCPTS=${RCPTS:-1} ROUNDS=${ROUNDS:-1} DISK_LOOP=${DISK_LOOP:-1} PERF=${PERF:-0}
    DG_CACHE_MS=${DG_CACHE_MS:-}
    export RCPTS ROUNDS DISK_LOOP PERF DG_CACHE_MS
    export PF_TLS_REUSE SINK DANEGATE LOAD QUEUE_100K MTAS N M SIZE Q_N Q_SIZE Q_SETTLE DELIVER_TIMEOUT DEBUG SHADOW PATH
    NETNS_RESOLV=1 netns_run dg-gwbench "${GW_NS_ADDRS[@]}"
}

# --- inside the namespace -------------------------------------------------------

PF_STARTED=""
DG_PID=""
DG_PIDS=()
PG_DATA=""
PG_CG=""
LOOPDEV=""
CGROUPS=()

# setup_disk: a private ext4 file system on a loop device for both queues ($DISK),
# so that its /proc/diskstats line counts their writes (data, metadata, journal) only.
setup_disk() {
    DISK="$WORK/disk"
    DG_DATA_DIR="$DISK/danegate-data"
    mkdir -p "$DISK"
    if [ "$DISK_LOOP" != 1 ]; then DISK_DEV=""; return 0; fi
    truncate -s 8G "$WORK/disk.img"
    LOOPDEV=$(losetup -f --show "$WORK/disk.img") || die "losetup failed"
    mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 "$LOOPDEV" || die "mkfs.ext4 failed"
    mount "$LOOPDEV" "$DISK" || die "mount $LOOPDEV failed"
    chmod 711 "$DISK"
    DISK_DEV=$(basename "$LOOPDEV")
    log "queues on $LOOPDEV (ext4, mounted on $DISK)"
}

# Bytes written to the queue disk so far (0 without DISK_LOOP).
disk_written() {
    [ -n "${DISK_DEV:-}" ] || { echo 0; return; }
    awk -v d="$DISK_DEV" '$3 == d { printf "%.0f\n", $10 * 512 }' /proc/diskstats
}

# cg_new NAME: a cpuacct cgroup (v1) for one MTA and its children; path in CG.
# (ip netns exec mounts a fresh /sys: the cpuacct hierarchy is mounted again in $WORK.)
CG_ROOT=""
cg_new() {
    CG=""
    if [ -z "$CG_ROOT" ]; then
        mkdir -p "$WORK/cgcpu"
        if mount -t cgroup -o cpuacct cpuacct "$WORK/cgcpu" 2>/dev/null; then
            CG_ROOT="$WORK/cgcpu"
        else
            log "no cpuacct cgroup: no CPU figures"
            return 0
        fi
    fi
    CG="$CG_ROOT/dgbench-$$-$1"
    mkdir -p "$CG" 2>/dev/null || CG=""
    if [ -n "$CG" ]; then CGROUPS+=("$CG"); fi
    return 0
}
cg_join() { [ -n "${CG:-}" ] && echo "$BASHPID" >"$CG/cgroup.procs"; return 0; }
# CPU time (ns) used so far by the MTA's cgroup.
cg_cpu_ns() { if [ -n "${CG:-}" ]; then cat "$CG/cpuacct.usage"; else echo 0; fi; }

gw_inner_cleanup() {
    local rc=$?
    set +e
    if [ -n "$PF_STARTED" ]; then
        postfix -c "$WORK/postfix" stop >/dev/null 2>&1 || postfix -c "$WORK/postfix" abort >/dev/null 2>&1
    fi
    local p
    for p in "${DG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    [ -n "$DG_PID" ] && sleep 1
    [ -n "$PG_DATA" ] && pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
    if [ -n "$LOOPDEV" ]; then
        umount "$DISK" 2>/dev/null || umount -l "$DISK" 2>/dev/null
        losetup -d "$LOOPDEV" 2>/dev/null
    fi
    local cg
    for cg in "${CGROUPS[@]}"; do rmdir "$cg" 2>/dev/null; done
    [ -n "$CG_ROOT" ] && umount "$CG_ROOT" 2>/dev/null
    (exit "$rc")
    inner_cleanup
}

# write_danegate_conf [DIR DATA_DIR PORT NODE DB]: the configuration file (in
# $WORK/DIR); with DB, the queue is that PostgreSQL database and the node is NODE.
write_danegate_conf() {
    local dir=${1:-danegate} data=${2:-$DG_DATA_DIR} port=${3:-2525} node=${4:-} db=${5:-}
    local f="$WORK/$dir/danegate.toml"
    mkdir -p "$WORK/$dir" "$data"
    cat >"$f" <<EOF
[server]
hostname = "danegate.client.test"
data_dir = "$data"
${node:+node = \"$node\"}
${DG_CACHE_MS:+connection_cache_idle_ms = $DG_CACHE_MS}

[[listener]]
name = "bench"
address = "127.0.0.1:$port"

[[sender_group]]
name = "RELAYLIST"
senders = ["127.0.0.1"]
policy = "RELAY"

[dns]
resolvers = [{ address = "127.0.0.1:53", priority = 0 }]
trust_anchor_file = "$WORK/root-anchor.zone"

[[destination]]
domain = "bench.test"
dane = "mandatory"
tls = "required"

[[destination]]
domain = "down.bench.test"
dane = "mandatory"
tls = "required"
bounce_profile = "fast"

[[bounce_profile]]
name = "fast"
initial_retry_secs = 60
max_retry_interval_secs = 60
EOF
    if [ -n "$db" ]; then
        cat >>"$f" <<EOF

[queue]
backend = "postgres"
url = "host=$PG_SOCK port=5432 user=postgres dbname=$db"
EOF
    fi
    echo "$f"
}

# pg_as CMD...: runs a command as the postgres user (no PAM session: stays in the
# caller's cgroup).
pg_as() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

# pg_start: initdb + start, once; the server and its backends in the cgroup PG_CG.
pg_start() {
    [ -n "$PG_DATA" ] && return 0
    local base="$DISK/pg"
    PG_SOCK="$WORK/pgsock"
    mkdir -p "$base" "$PG_SOCK"
    chown postgres "$base" "$PG_SOCK"
    chmod 700 "$base"
    chmod 755 "$PG_SOCK"
    pg_as "$PG_BIN/initdb" -D "$base/data" -U postgres --auth=trust -E UTF8 >"$WORK/pg-initdb.log" 2>&1 \
        || { cat "$WORK/pg-initdb.log" >&2; die "initdb failed"; }
    cg_new postgres
    PG_CG=$CG
    CG=""
    (
        if [ -n "$PG_CG" ]; then echo "$BASHPID" >"$PG_CG/cgroup.procs"; fi
        exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
            "$PG_BIN/pg_ctl" -D "$base/data" -l "$base/server.log" -w \
            -o "-k $PG_SOCK -c listen_addresses='' -p 5432 -c max_connections=200" start
    ) >"$WORK/pg-start.log" 2>&1 || { cat "$WORK/pg-start.log" "$base/server.log" >&2; die "PostgreSQL did not start"; }
    PG_DATA="$base/data"
    log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') on $PG_SOCK (data on the queue disk, fsync on, synchronous_commit on)"
}

psql_q() { # psql_q DB SQL: one value
    "$PG_BIN/psql" -h "$PG_SOCK" -p 5432 -U postgres -d "$1" -Atqc "$2"
}

# PostgreSQL counters of database DB: "commits wal_bytes" so far.
pg_counters() {
    local c w
    c=$(psql_q "$1" "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    w=$(psql_q "$1" "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
    echo "$c ${w%.*}"
}

# start_danegate [DIR DATA_DIR PORT NODE DB]: one node (see write_danegate_conf);
# its PID is added to DG_PIDS (DG_PID: the first node). With arguments the cgroup is
# the caller's (cg_new before the first node).
start_danegate() {
    local dir=${1:-danegate}
    local conf; conf=$(write_danegate_conf "$@")
    local dbg=()
    [ "$DEBUG" = 1 ] && dbg=(--debug)
    [ "$SHADOW" = 0 ] && dbg+=(--no-shadow)
    if [ $# -eq 0 ]; then cg_new danegate; fi
    (cg_join; exec "$DANEGATE" serve --config "$conf" "${dbg[@]}") >"$WORK/$dir/stdout.log" 2>"$WORK/$dir/stderr.log" &
    local pid=$!
    [ -z "$DG_PID" ] && DG_PID=$pid
    DG_PIDS+=("$pid")
    CHILD_PIDS+=("$pid")
    local i
    for i in $(seq 1 100); do
        grep -q 'listener bench on' "$WORK/$dir/stderr.log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 30 "$WORK/$dir/stderr.log" >&2
    die "danegate did not start (config $conf)"
}

stop_danegate() {
    local p i
    for p in "${DG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${DG_PIDS[@]}"; do
        for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    DG_PID=""
    DG_PIDS=()
}

# Bytes written (/proc/PID/io write_bytes) by the running danegate nodes, summed.
dg_io() {
    local p t=0 b
    for p in "${DG_PIDS[@]}"; do
        b=$(awk '/^write_bytes:/ { print $2 }' "/proc/$p/io" 2>/dev/null || echo 0)
        t=$((t + ${b:-0}))
    done
    echo "$t"
}

# CPU clock ticks (user + system) of the running danegate nodes, summed.
dg_ticks() {
    local p t=0
    for p in "${DG_PIDS[@]}"; do t=$((t + $(proc_cpu_ticks "$p"))); done
    echo "$t"
}

start_postfix() {
    local PF="$WORK/postfix"
    rm -rf "$DISK/pfqueue"
    mkdir -p "$PF" "$DISK/pfqueue" "$PF/data"
    chmod 755 "$PF"
    chown postfix "$PF/data"
    cat >"$PF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $DISK/pfqueue
data_directory = $PF/data
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
myhostname = postfix.client.test
mydomain = client.test
myorigin = \$myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.2
inet_protocols = ipv4
smtp_address_preference = ipv4
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_tls_security_level = dane
smtp_dns_support_level = dnssec
smtp_tls_loglevel = 1
smtputf8_enable = no
biff = no
append_dot_mydomain = no
EOF
    # Debian's master.cf chroots most daemons; this instance runs unchrooted
    # (no copy of resolv.conf etc. needed in the queue directory).
    awk -v reuse="${PF_TLS_REUSE:-0}" 'BEGIN { OFS = " " }
         reuse == 1 && /^#tlsproxy[ \t]/ { sub(/^#/, "") }
         /^[a-z]/ && NF >= 8 && $5 == "y" { $5 = "n" } { print }' /etc/postfix/master.cf >"$PF/master.cf"
    if [ "${PF_TLS_REUSE:-0}" = 1 ]; then
        echo "smtp_tls_connection_reuse = yes" >>"$PF/main.cf"
        grep -q '^tlsproxy ' "$PF/master.cf" || die "no tlsproxy service in /etc/postfix/master.cf"
    fi
    # Postfix commands log to stderr only when it is a terminal: script(1) makes one.
    pf_cmd() { script -qec "postfix -c $PF $*" /dev/null; }
    pf_cmd check >"$PF/check.log" 2>&1 || { cat "$PF/check.log" >&2; die "postfix check failed"; }
    cg_new postfix
    (cg_join; pf_cmd start) >"$PF/start.log" 2>&1 || { cat "$PF/start.log" "$PF/maillog" >&2 2>/dev/null; die "postfix start failed"; }
    PF_STARTED=1
    local i
    for i in $(seq 1 100); do
        if [ -s "$DISK/pfqueue/pid/master.pid" ] && (exec 3<>/dev/tcp/127.0.0.2/25) 2>/dev/null; then
            PF_PID=$(tr -d ' ' <"$DISK/pfqueue/pid/master.pid")
            return 0
        fi
        sleep 0.1
    done
    cat "$PF/start.log" "$PF/maillog" >&2 2>/dev/null
    die "postfix did not start"
}

stop_postfix() {
    postfix -c "$WORK/postfix" stop >/dev/null 2>&1 || true
    local i
    for i in $(seq 1 50); do kill -0 "$PF_PID" 2>/dev/null || break; sleep 0.1; done
    PF_STARTED=""
}

# run_load NAME TARGET RCPT N SIZE -> $WORK/NAME.load.json
# With several targets ("A B"): one load generator per target at once, N/k messages
# and M/k clients each; the results merged (accepted summed, first start to last end;
# p50/p99 are the largest of the generators' figures).
run_load() {
    local name=$1 target=$2 rcpt=$3 n=$4 size=$5
    local progress=0
    [ "$n" -ge 20000 ] && progress=10000
    local targets
    read -r -a targets <<<"$target"
    if [ "${#targets[@]}" -eq 1 ]; then
        "$LOAD" --target "$target" --messages "$n" --concurrency "$M" --size "$size" \
            --rcpt "$rcpt" --rcpts "$RCPTS" --progress "$progress" >"$WORK/$name.load.json" 2>"$WORK/$name.load.err" || true
        cat "$WORK/$name.load.err" >&2
    else
        local i pids=() k=${#targets[@]}
        for i in "${!targets[@]}"; do
            "$LOAD" --target "${targets[$i]}" --messages $((n / k)) --concurrency $(((M + k - 1) / k)) \
                --size "$size" --rcpt "$rcpt" --rcpts "$RCPTS" --progress "$progress" \
                >"$WORK/$name.load.$i.json" 2>"$WORK/$name.load.$i.err" &
            pids+=("$!")
        done
        for i in "${pids[@]}"; do wait "$i" || true; done
        cat "$WORK/$name".load.*.err >&2
        jq -s '{target: (map(.target) | join(" ")), accepted: (map(.accepted) | add),
                rejected: (map(.rejected) | add), errors: (map(.errors) | add),
                start_unix_ms: (map(.start_unix_ms) | min), end_unix_ms: (map(.end_unix_ms) | max),
                p50_ms: (map(.p50_ms) | max), p99_ms: (map(.p99_ms) | max)}
               | .seconds = ((.end_unix_ms - .start_unix_ms) / 1000)
               | .msgs_per_sec = (if .seconds > 0 then .accepted / .seconds else 0 end)' \
            "$WORK/$name".load.[0-9].json >"$WORK/$name.load.json" || die "load generator failed for $name"
    fi
    jq -c . "$WORK/$name.load.json" >&2 || die "load generator failed for $name"
}

# warm_up NAME TARGET: one message, delivered within 60 s, or a diagnosis.
warm_up() {
    local name=$1 target=$2 base
    base=$(gw_sink_count)
    "$LOAD" --target "$target" --messages 1 --concurrency 1 --size 512 \
        --rcpt user@bench.test >"$WORK/$name.warmup.json" 2>&1 || true
    if ! gw_wait_count $((base + 1)) 60; then
        log "$name: a warm-up message was not delivered within 60 s:"
        cat "$WORK/$name.warmup.json" >&2
        return 1
    fi
}

# measure NAME TARGET: the N-message run; results in $WORK/NAME.result
# "accepted_mps delivered_mps p50 p99 accepted delivered_s"
# measure NAME TARGET [DB]: with DB (PostgreSQL), also $WORK/NAME.pg
# "cpu_ms commits wal_bytes" per message.
measure() {
    local name=$1 target=$2 base start_ms last_ms tls0 conns0 cpu0 disk0 io0=0 perf_pid=""
    local pgcpu0=0 pgc0="" db=${3:-}
    base=$(gw_sink_count) tls0=$(gw_sink_tls) conns0=$(gw_sink_conns)
    sync -f "$DISK" 2>/dev/null || true
    cpu0=$(cg_cpu_ns) disk0=$(disk_written)
    [[ "$name" == danegate* ]] && io0=$(dg_io)
    if [ -n "$db" ]; then
        [ -n "$PG_CG" ] && pgcpu0=$(cat "$PG_CG/cpuacct.usage")
        pgc0=$(pg_counters "$db")
    fi
    if [[ "$name" == danegate* ]] && [ "$PERF" = 1 ]; then
        perf record -g -o "$WORK/danegate.$ROUND.perf.data" -p "$DG_PID" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    run_load "$name" "$target" user@bench.test "$N" "$SIZE"
    local acc; acc=$(jq -r .accepted "$WORK/$name.load.json")
    start_ms=$(jq -r .start_unix_ms "$WORK/$name.load.json")
    local deliv_mps=- deliv_s=-
    if gw_wait_count $((base + acc)) "$DELIVER_TIMEOUT"; then
        last_ms=$(gw_sink_last_ms)
        deliv_s=$(awk -v a="$last_ms" -v b="$start_ms" 'BEGIN { printf "%.3f", (a - b) / 1000 }')
        deliv_mps=$(awk -v n="$acc" -v s="$deliv_s" 'BEGIN { printf "%.1f", n / s }')
    else
        log "$name: only $(( $(gw_sink_count) - base )) of $acc delivered after ${DELIVER_TIMEOUT}s"
    fi
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null || true
        perf report -i "$WORK/danegate.$ROUND.perf.data" --stdio --no-children --sort dso,symbol \
            --percent-limit 1 2>/dev/null | grep -v '^$' | grep -E '^ +[0-9]' | head -40 >"$WORK/danegate.$ROUND.perf.txt" || true
        log "perf top of danegate (round $ROUND):"; head -25 "$WORK/danegate.$ROUND.perf.txt" >&2
    fi
    # Let the MTA finish its bookkeeping (queue file removal, state updates), then
    # flush what is still dirty in the page cache: bytes that reach the disk.
    sleep 2
    sync -f "$DISK" 2>/dev/null || true
    local cpu1 disk1 io1=0
    cpu1=$(cg_cpu_ns) disk1=$(disk_written)
    [[ "$name" == danegate* ]] && io1=$(dg_io)
    if [ -n "$db" ]; then
        local pgcpu1=0 pgc1 c0 w0 c1 w1
        [ -n "$PG_CG" ] && pgcpu1=$(cat "$PG_CG/cpuacct.usage")
        pgc1=$(pg_counters "$db")
        read -r c0 w0 <<<"$pgc0"
        read -r c1 w1 <<<"$pgc1"
        # PostgreSQL: CPU ms, commits and WAL bytes per accepted message.
        awk -v c=$((pgcpu1 - pgcpu0)) -v x=$((c1 - c0)) -v w=$((w1 - w0)) -v n="$acc" -v cg="$PG_CG" \
            'BEGIN { if (n == 0) n = 1; printf "%s %.2f %.0f\n", (cg == "" ? "-" : sprintf("%.3f", c / 1e6 / n)), x / n, w / n }' \
            >"$WORK/$name.pg"
    fi
    awk -v c=$((cpu1 - cpu0)) -v d=$((disk1 - disk0)) -v i=$((io1 - io0)) -v n="$acc" -v dev="${DISK_DEV:-}" \
        'BEGIN { if (n == 0) n = 1; printf "%.3f %s %s\n", c / 1e6 / n, (dev == "" ? "-" : sprintf("%.0f", d / n)), (i == 0 ? "-" : sprintf("%.0f", i / n)) }' \
        >"$WORK/$name.extra"
    jq -r --arg d "$deliv_mps" --arg ds "$deliv_s" \
        '"\(.msgs_per_sec * 10 | round / 10) \($d) \(.p50_ms * 10 | round / 10) \(.p99_ms * 10 | round / 10) \(.accepted) \($ds)"' \
        "$WORK/$name.load.json" >"$WORK/$name.result"
    # What the sink saw: messages over TLS, delivery connections.
    echo "$(( $(gw_sink_tls) - tls0 )) $(( $(gw_sink_conns) - conns0 ))" >"$WORK/$name.sink"
    log "$name: $(cat "$WORK/$name.result") (accepted/s delivered/s p50 p99 accepted delivered-seconds)"
}

# proc_cpu_ticks PID: user + system clock ticks of the process so far.
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

bench_danegate() {
    rm -rf "$DG_DATA_DIR"   # each round from an empty queue, like Postfix's
    start_danegate
    mem_sampler "$WORK/danegate.mem" "$DG_PID" &
    local sampler=$!
    CHILD_PIDS+=("$sampler")
    if ! warm_up danegate 127.0.0.1:2525; then
        log "danegate log (last 40 lines of $WORK/danegate/stderr.log):"
        tail -n 40 "$WORK/danegate/stderr.log" >&2
        echo "- - - - 0 -" >"$WORK/danegate.result"
    else
        local cpu0 cpu1
        cpu0=$(dg_ticks)
        measure danegate 127.0.0.1:2525
        cpu1=$(dg_ticks)
        # CPU time (user + system) of the danegate process over the measured run.
        awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" -v n="$N" \
            'BEGIN { printf "%.3f %.3f\n", (b - a) / hz, (b - a) / hz * 1000 / n }' >"$WORK/danegate.cpu"
    fi
    sleep 1
    DG_HWM=$(proc_hwm_kb "$DG_PID")
    DG_DATA=$(du -sk "$DG_DATA_DIR" | awk '{ print $1 }')
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    stop_danegate
}

# bench_pg NAME NODES: NODES danegate nodes (gw1 on 127.0.0.1:2525, gw2 on :2526, ...)
# on a fresh PostgreSQL database; results in $WORK/NAME.{result,extra,sink,cpu,pg}.
bench_pg() {
    local name=$1 nodes=$2 db="dg_$1_${ROUND:-1}" i targets=() ok=1
    pg_start
    "$PG_BIN/createdb" -h "$PG_SOCK" -p 5432 -U postgres "$db" || die "createdb $db failed"
    cg_new "$name"
    for i in $(seq 1 "$nodes"); do
        rm -rf "$DISK/$name-gw$i"
        start_danegate "$name-gw$i" "$DISK/$name-gw$i" $((2524 + i)) "gw$i" "$db"
        targets+=("127.0.0.1:$((2524 + i))")
    done
    for i in "${targets[@]}"; do
        warm_up "$name" "$i" || ok=0
    done
    if [ "$ok" != 1 ]; then
        for i in $(seq 1 "$nodes"); do tail -n 40 "$WORK/$name-gw$i/stderr.log" >&2; done
        echo "- - - - 0 -" >"$WORK/$name.result"
    else
        local cpu0 cpu1
        cpu0=$(dg_ticks)
        measure "$name" "${targets[*]}" "$db"
        cpu1=$(dg_ticks)
        awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" -v n="$N" \
            'BEGIN { printf "%.3f %.3f\n", (b - a) / hz, (b - a) / hz * 1000 / n }' >"$WORK/$name.cpu"
    fi
    sleep 1
    stop_danegate
}

bench_danegate_pg() { bench_pg danegate_pg 1; }
bench_danegate_pg2() { bench_pg danegate_pg2 2; }

bench_postfix() {
    start_postfix
    mem_sampler "$WORK/postfix.mem" "$PF_PID" &
    local sampler=$!
    CHILD_PIDS+=("$sampler")
    if ! warm_up postfix 127.0.0.2:25; then
        tail -n 40 "$WORK/postfix/maillog" >&2
        echo "- - - - 0 -" >"$WORK/postfix.result"
    else
        measure postfix 127.0.0.2:25
    fi
    sleep 1
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    grep -c 'Verified TLS connection established' "$WORK/postfix/maillog" >"$WORK/postfix.verified" || true
    stop_postfix
}

queue_100k() {
    start_danegate
    local rss0; rss0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DG_PID/status")
    log "danegate idle: VmRSS $rss0 kB; submitting $Q_N messages of $Q_SIZE bytes to user@down.bench.test"
    local t0=$SECONDS
    "$LOAD" --target 127.0.0.1:2525 --messages "$Q_N" --concurrency "$M" --size "$Q_SIZE" \
        --rcpt user@down.bench.test --progress 10000 >"$WORK/q100k.load.json" 2>"$WORK/q100k.load.err" || true
    cat "$WORK/q100k.load.err" >&2
    jq -c . "$WORK/q100k.load.json" >&2
    log "submitted in $((SECONDS - t0)) s; settling $Q_SETTLE s (delivery attempts to the dead MX go on)"
    sleep "$Q_SETTLE"
    local hwm rss data wal
    hwm=$(proc_hwm_kb "$DG_PID")
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DG_PID/status")
    data=$(du -sk "$DG_DATA_DIR" | awk '{ print $1 }')
    echo
    echo "danegate with $(jq -r .accepted "$WORK/q100k.load.json") messages queued (undeliverable: MX without listener), $(nproc) CPUs"
    printf '%-34s %s\n' "accepted msgs/s" "$(jq -r '.msgs_per_sec * 10 | round / 10' "$WORK/q100k.load.json")"
    printf '%-34s %s / %s\n' "accept latency p50 / p99 ms" "$(jq -r .p50_ms "$WORK/q100k.load.json")" "$(jq -r .p99_ms "$WORK/q100k.load.json")"
    printf '%-34s %s MiB\n' "VmRSS idle before" "$(awk -v k="$rss0" 'BEGIN { printf "%.1f", k / 1024 }')"
    printf '%-34s %s MiB\n' "VmHWM (peak RSS)" "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
    printf '%-34s %s MiB\n' "VmRSS after ${Q_SETTLE}s" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
    printf '%-34s %s MiB\n' "data dir (queue DB) size" "$(awk -v k="$data" 'BEGIN { printf "%.1f", k / 1024 }')"
    echo "data dir files:"
    # shellcheck disable=SC2012
    ls -la "$DG_DATA_DIR" | sed 's/^/    /'
    local verdict=ok
    [ "$hwm" -le $((200 * 1024)) ] || verdict="OVER the 200 MiB target"
    echo "target: RSS <= 200 MiB with 100k queued: $verdict"
    stop_danegate
    restart_100k
}

# After QUEUE_100K: the destination comes back (a sink on its address), every queued
# recipient is made due (sqlite3, gateway stopped: the bench's stand-in for "its retry
# time has come"), danegate restarts; time from the start of the process to the first
# delivered message, and its memory while it delivers the backlog.
restart_100k() {
    command -v sqlite3 >/dev/null 2>&1 || { log "no sqlite3: restart figures skipped"; return 0; }
    sqlite3 "$DG_DATA_DIR/queue.sqlite" "UPDATE recipients SET next_attempt = 0 WHERE state = 0" \
        || { log "sqlite3 update failed: restart figures skipped"; return 0; }
    local queued; queued=$(sqlite3 "$DG_DATA_DIR/queue.sqlite" "SELECT count(*) FROM recipients WHERE state = 0")
    local cnt="$WORK/sink/down.count"
    "$SINK" --listen "$GW_DOWN_ADDR:25" --hostname mx.down.bench.test \
        --cert-chain "$CERTS/mx.chain.pem" --key "$CERTS/mx.key" \
        --count-only --count-file "$cnt" >"$WORK/sink/down.log" 2>&1 &
    CHILD_PIDS+=("$!")
    wait_log "$WORK/sink/down.log" "the second sink"
    local t0=$EPOCHREALTIME t1="" first=""
    start_danegate
    while [ -z "$first" ]; do
        if [ -s "$cnt" ] && [ "$(awk '{ print $1 }' "$cnt")" -gt 0 ]; then first=$EPOCHREALTIME; break; fi
        awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { exit !(a - b > 120) }' && break
        sleep 0.02
    done
    t1=$(awk -v a="${first:-0}" -v b="$t0" 'BEGIN { if (a == 0) print "-"; else printf "%.2f", a - b }')
    sleep 10
    local hwm rss n10
    hwm=$(proc_hwm_kb "$DG_PID")
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DG_PID/status")
    n10=$(awk '{ print $1 }' "$cnt")
    echo
    echo "restart with $queued queued recipients (all due), destination reachable again"
    printf '%-34s %s s\n' "process start -> first delivery" "$t1"
    printf '%-34s %s\n' "delivered in the first ~10 s" "$n10"
    printf '%-34s %s MiB\n' "VmHWM after restart" "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
    printf '%-34s %s MiB\n' "VmRSS after restart" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
    local v1=ok v2=ok
    awk -v t="$t1" 'BEGIN { exit !(t != "-" && t <= 5) }' || v1="NOT met"
    [ "$hwm" -le $((200 * 1024)) ] || v2="NOT met"
    echo "target: first delivery within 5 s of restart: $v1; RSS <= 200 MiB: $v2"
    stop_danegate
}

# The queue comparison: one column per entry of MTAS (danegate = SQLite).
report_queues() {
    local m cols=() label vals v a b tot=()
    for m in $MTAS; do
        case $m in
            danegate) label="sqlite-1node" ;;
            danegate_pg) label="pg-1node" ;;
            danegate_pg2) label="pg-2nodes" ;;
            *) label=$m ;;
        esac
        cols+=("$label")
    done
    row() { local h=$1; shift; printf '%-34s' "$h"; printf ' %13s' "$@"; echo; }
    # field FILE INDEX: the INDEXth word of $WORK/<mta>.FILE of each MTA, in vals.
    field() {
        vals=()
        for m in $MTAS; do
            v=-
            [ -f "$WORK/$m.$1" ] && v=$(awk -v i="$2" '{ print $i }' "$WORK/$m.$1")
            vals+=("${v:--}")
        done
    }
    echo
    echo "round ${ROUND:-1}: queue backends: N=$N messages of $SIZE bytes, $RCPTS recipient(s) each, M=$M clients (split over the listeners), DANE-EE 3 1 1 MX, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    row "" "${cols[@]}"
    field result 5; row "accepted (of $N)" "${vals[@]}"
    field result 1; row "accepted msgs/s" "${vals[@]}"
    field result 2; row "delivered msgs/s" "${vals[@]}"
    field result 6; row "delivered in s (from 1st submit)" "${vals[@]}"
    field result 3; row "accept latency p50 ms" "${vals[@]}"
    field result 4; row "accept latency p99 ms" "${vals[@]}"
    field extra 1; row "danegate CPU ms/msg (cgroup)" "${vals[@]}"
    field pg 1; row "PostgreSQL CPU ms/msg (cgroup)" "${vals[@]}"
    for m in $MTAS; do
        a=-; b=0
        [ -f "$WORK/$m.extra" ] && a=$(awk '{ print $1 }' "$WORK/$m.extra")
        [ -f "$WORK/$m.pg" ] && b=$(awk '{ print $1 }' "$WORK/$m.pg")
        tot+=("$(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.3f", a + b }')")
    done
    row "total CPU ms/msg" "${tot[@]}"
    field pg 2; row "PostgreSQL transactions/msg" "${vals[@]}"
    field pg 3; row "PostgreSQL WAL bytes/msg" "${vals[@]}"
    field extra 2; row "disk bytes written/msg" "${vals[@]}"
    field sink 2; row "sink: delivery connections" "${vals[@]}"
    field sink 1; row "sink: received over TLS" "${vals[@]}"
}

mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "-") print "-"; else printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'; }

report() {
    local d_acc d_del d_p50 d_p99 d_n d_s p_acc p_del p_p50 p_p99 p_n p_s
    read -r d_acc d_del d_p50 d_p99 d_n d_s 2>/dev/null <"$WORK/danegate.result" || true
    read -r p_acc p_del p_p50 p_p99 p_n p_s 2>/dev/null <"$WORK/postfix.result" || true
    local pf_pss=- pf_rss=- pf_hwm=- pf_procs=-
    [ -f "$WORK/postfix.mem" ] && read -r pf_pss pf_rss pf_hwm pf_procs <"$WORK/postfix.mem"
    local dg_pss=- _x _y _z
    [ -f "$WORK/danegate.mem" ] && read -r dg_pss _x _y _z <"$WORK/danegate.mem"
    echo
    local reuse=""
    [ "$PF_TLS_REUSE" = 1 ] && reuse=" (smtp_tls_connection_reuse = yes)"
    echo "round ${ROUND:-1}: danegate vs Postfix $(postconf -d -h mail_version 2>/dev/null || echo '?')$reuse: N=$N messages of $SIZE bytes, $RCPTS recipient(s) each, M=$M clients, DANE-EE 3 1 1 MX, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-32s %14s %14s %10s\n' "" danegate postfix "dg/pf"
    printf '%-32s %14s %14s %10s\n' "accepted (of $N)" "${d_n:--}" "${p_n:--}" ""
    printf '%-32s %14s %14s %10s\n' "accepted msgs/s" "${d_acc:--}" "${p_acc:--}" "$(ratio "${d_acc:--}" "${p_acc:--}")"
    printf '%-32s %14s %14s %10s\n' "delivered msgs/s" "${d_del:--}" "${p_del:--}" "$(ratio "${d_del:--}" "${p_del:--}")"
    printf '%-32s %14s %14s %10s\n' "delivered in s (from 1st submit)" "${d_s:--}" "${p_s:--}" ""
    printf '%-32s %14s %14s %10s\n' "accept latency p50 ms" "${d_p50:--}" "${p_p50:--}" "$(ratio "${d_p50:--}" "${p_p50:--}")"
    printf '%-32s %14s %14s %10s\n' "accept latency p99 ms" "${d_p99:--}" "${p_p99:--}" "$(ratio "${d_p99:--}" "${p_p99:--}")"
    local d_cpu=- d_cpu_msg=-
    [ -f "$WORK/danegate.cpu" ] && read -r d_cpu d_cpu_msg <"$WORK/danegate.cpu"
    printf '%-32s %14s %14s %10s\n' "danegate CPU s (shadow=$SHADOW)" "$d_cpu" "" ""
    printf '%-32s %14s %14s %10s\n' "danegate CPU ms per message" "$d_cpu_msg" "" ""
    printf '%-32s %14s %14s %10s\n' "peak RSS MiB (dg: VmHWM)" "$(mib "${DG_HWM:--}")" "" ""
    printf '%-32s %14s %14s %10s\n' "peak sum of PSS MiB" "$(mib "$dg_pss")" "$(mib "$pf_pss")" "$(ratio "$dg_pss" "$pf_pss")"
    printf '%-32s %14s %14s %10s\n' "peak sum of RSS MiB" "$(mib "${DG_HWM:--}")" "$(mib "$pf_rss")" "$(ratio "${DG_HWM:--}" "$pf_rss")"
    printf '%-32s %14s %14s %10s\n' "largest process VmHWM MiB" "$(mib "${DG_HWM:--}")" "$(mib "$pf_hwm")" ""
    printf '%-32s %14s %14s %10s\n' "processes (peak)" 1 "$pf_procs" ""
    printf '%-32s %14s %14s %10s\n' "queue/data dir after, MiB" "$(mib "${DG_DATA:--}")" "" ""
    local d_cpu=- d_disk=- d_io=- p_cpu=- p_disk=- p_io=-
    [ -f "$WORK/danegate.extra" ] && read -r d_cpu d_disk d_io <"$WORK/danegate.extra"
    [ -f "$WORK/postfix.extra" ] && read -r p_cpu p_disk p_io <"$WORK/postfix.extra"
    if [ "$RCPTS" != 1 ]; then
        local d_r=- p_r=-
        [ "${d_del:--}" != - ] && d_r=$(awk -v a="$d_del" -v r="$RCPTS" 'BEGIN { printf "%.1f", a * r }')
        [ "${p_del:--}" != - ] && p_r=$(awk -v a="$p_del" -v r="$RCPTS" 'BEGIN { printf "%.1f", a * r }')
        printf '%-32s %14s %14s %10s\n' "delivered recipients/s" "$d_r" "$p_r" "$(ratio "$d_r" "$p_r")"
    fi
    printf '%-32s %14s %14s %10s\n' "CPU ms per message (cgroup)" "$d_cpu" "$p_cpu" "$(ratio "$d_cpu" "$p_cpu")"
    printf '%-32s %14s %14s %10s\n' "disk bytes written per message" "$d_disk" "$p_disk" "$(ratio "$d_disk" "$p_disk")"
    printf '%-32s %14s %14s %10s\n' "danegate write_bytes per message" "$d_io" "" ""
    local d_tls=- d_conns=- p_tls=- p_conns=-
    [ -f "$WORK/danegate.sink" ] && read -r d_tls d_conns <"$WORK/danegate.sink"
    [ -f "$WORK/postfix.sink" ] && read -r p_tls p_conns <"$WORK/postfix.sink"
    printf '%-32s %14s %14s %10s\n' "sink: received over TLS" "$d_tls" "$p_tls" ""
    printf '%-32s %14s %14s %10s\n' "sink: delivery connections" "$d_conns" "$p_conns" ""
    [ -f "$WORK/postfix.verified" ] && echo "Postfix deliveries logged 'Verified TLS connection established': $(cat "$WORK/postfix.verified")"
    local tls_for; tls_for=$(grep -c 'TLS success.*for bench.test' "$WORK/danegate/stderr.log" 2>/dev/null || true)
    echo "danegate log lines 'TLS success ... for bench.test' (DANE success): ${tls_for:-0}"
    if [ "${d_del:--}" != - ] && [ "${p_del:--}" != - ]; then
        awk -v a="$d_del" -v b="$p_del" 'BEGIN { printf "target: danegate delivered >= 4x Postfix: %s (%.2fx)\n", (a >= 4 * b) ? "met" : "NOT met", a / b }'
    fi
}

inside() {
    inner_setup "$1"
    trap gw_inner_cleanup EXIT
    chmod 711 "$WORK"   # Postfix daemons (user postfix) must reach their dirs in it
    gw_world_build
    gw_world_start
    setup_disk
    if [ "$QUEUE_100K" = 1 ]; then
        queue_100k
        return 0
    fi
    local mta f
    for ROUND in $(seq 1 "$ROUNDS"); do
        for mta in $MTAS; do
            log "--- round $ROUND: $mta (load average $(cut -d' ' -f1-3 /proc/loadavg)) ---"
            "bench_$mta"
        done
        if [[ " $MTAS " == *" danegate_pg"* ]]; then
            report_queues | tee "$WORK/report.$ROUND.txt"
        else
            report | tee "$WORK/report.$ROUND.txt"
        fi
        for f in "$WORK"/danegate.{result,extra,sink,mem,cpu} "$WORK"/postfix.{result,extra,sink,mem,verified} \
                 "$WORK"/danegate_pg{,2}.{result,extra,sink,cpu,pg}; do
            [ -f "$f" ] && mv "$f" "$f.$ROUND"
        done
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then log "results and logs in $WORK"; fi
}

if [ "${1:-}" = __inside ]; then
    inside "$2"
else
    outer
fi
