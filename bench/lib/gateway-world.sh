# The small DANE world of bench/gateway.sh. Sourced after
# tests/integration/lib/common.sh and tests/integration/lib/world.sh (for the
# certificate helpers write_ca_conf / issue / leaf / tlsa); runs inside the
# namespace (see netns_run).
#
#   GW_NS_ADDRS        addresses netns_run adds to lo
#   gw_world_build     certificates, zones (ldns), anchors
#   gw_world_start     NSD x3, Unbound, the count-only sink on mx.bench.test
#   gw_sink_count      messages the sink has counted so far
#   gw_sink_last_ms    unix ms of the sink's last accepted message
#   gw_sink_conns / gw_sink_tls   connections / messages received over TLS
#
# The world (the root DS is the only trust anchor; all zones ECDSAP256, NSEC):
#
#   .            NSD 127.0.1.1
#   test.        NSD 127.0.2.1
#   bench.test.  NSD 127.0.3.1
#     bench.test.           MX 10 mx.bench.test.
#     mx.bench.test.        A 127.0.20.1            danegate-smtp-sink --count-only
#     _25._tcp.mx           TLSA 3 1 1 (the sink's leaf, from a private intermediate)
#     down.bench.test.      MX 10 mx.down.bench.test.
#     mx.down.bench.test.   A 127.0.20.2            nothing listens (QUEUE_100K=1)
#     _25._tcp.mx.down      TLSA 3 1 1 (same leaf)
#
# Needs SINK (danegate-smtp-sink) in the environment.

GW_MX_ADDR=127.0.20.1
GW_DOWN_ADDR=127.0.20.2
GW_NS_ADDRS=(127.0.1.1 127.0.2.1 127.0.3.1 "$GW_MX_ADDR" "$GW_DOWN_ADDR" 127.0.0.2)

gw_make_certs() {
    CERTS="$WORK/certs"
    export CERTS DG_SAN=DNS:unused.invalid
    mkdir -p "$CERTS"
    write_ca_conf
    newkey "$CERTS/ca.key" ec
    openssl req -x509 -new -config "$CERTS/ca.cnf" -key "$CERTS/ca.key" \
        -subj "/CN=danegate bench root CA" -days 3650 -extensions ext_ca -out "$CERTS/ca.pem"
    issue int "danegate bench intermediate CA" "" ca ext_int
    # ECDSA P-256 leaf (the sink accepts TLS 1.2 and 1.3).
    leaf mx mx.bench.test
}

gw_make_zones() {
    local Z="$WORK/zones"
    KEYS="$WORK/keys"
    mkdir -p "$Z" "$KEYS"
    INCEPTION=$(ts '2 days ago')
    EXPIRATION=$(ts '30 days')

    { soa bench.test. ns.bench.test.
      cat <<EOF
@               NS    ns
ns              A     127.0.3.1
@               MX    10 mx
mx              A     $GW_MX_ADDR
_25._tcp.mx     $(tlsa 3 1 1 mx)
down            MX    10 mx.down
mx.down         A     $GW_DOWN_ADDR
_25._tcp.mx.down $(tlsa 3 1 1 mx)
EOF
    } >"$Z/bench.test.zone"
    make_keys_ldns bench.test. ECDSAP256SHA256
    sign_ldns bench.test. "$Z/bench.test.zone"
    local DS_BENCH; DS_BENCH=$(ds_ldns)

    { soa test. ns.nic.test.
      cat <<EOF
@        NS    ns.nic
ns.nic   A     127.0.2.1
bench    NS    ns.bench
ns.bench A     127.0.3.1
$DS_BENCH
EOF
    } >"$Z/test.zone"
    make_keys_ldns test. ECDSAP256SHA256
    sign_ldns test. "$Z/test.zone"
    local DS_TEST; DS_TEST=$(ds_ldns)

    { soa . ns.root.
      cat <<EOF
@        NS    ns.root.
ns.root. A     127.0.1.1
test.    NS    ns.nic.test.
ns.nic.test. A 127.0.2.1
$DS_TEST
EOF
    } >"$Z/root.zone"
    make_keys_ldns . ECDSAP256SHA256
    sign_ldns . "$Z/root.zone"
    write_anchors "$(ds_ldns)"
}

gw_world_build() {
    local t0=$SECONDS
    gw_make_certs
    gw_make_zones
    log "world built in $((SECONDS - t0)) s"
}

gw_world_start() {
    local t0=$SECONDS i
    start_nsd root 127.0.1.1 .
    start_nsd tld 127.0.2.1 test.
    start_nsd bench 127.0.3.1 bench.test.
    mkdir -p "$WORK/sink"
    SINK_COUNT_FILE="$WORK/sink/count"
    "$SINK" --listen "$GW_MX_ADDR:25" --hostname mx.bench.test \
        --cert-chain "$CERTS/mx.chain.pem" --key "$CERTS/mx.key" \
        --count-only --count-file "$SINK_COUNT_FILE" >"$WORK/sink/sink.log" 2>&1 &
    CHILD_PIDS+=("$!")
    SINK_PID=$!
    wait_dns 127.0.1.1 .
    wait_dns 127.0.2.1 test.
    wait_dns 127.0.3.1 bench.test.
    start_unbound
    wait_dns 127.0.0.1 . +rec
    for i in $(seq 1 100); do
        grep -q '^listening on' "$WORK/sink/sink.log" 2>/dev/null && break
        sleep 0.05
    done
    grep -q '^listening on' "$WORK/sink/sink.log" || { cat "$WORK/sink/sink.log" >&2; die "sink did not start"; }
    # Both MTAs must find a secure chain: check it once with Unbound (AD bit).
    dig @127.0.0.1 +dnssec _25._tcp.mx.bench.test TLSA | grep -q 'flags:.* ad' \
        || die "Unbound does not validate _25._tcp.mx.bench.test TLSA (see $WORK/unbound)"
    log "servers up after $((SECONDS - t0)) s"
}

# "MESSAGES LAST_MS CONNECTIONS TLS_MESSAGES" (0 0 0 0 before the first message).
gw_sink_line() { cat "$SINK_COUNT_FILE" 2>/dev/null || echo "0 0 0 0"; }
gw_sink_conns() { gw_sink_line | awk '{ print $3 }'; }
gw_sink_tls() { gw_sink_line | awk '{ print $4 }'; }
gw_sink_count() { gw_sink_line | awk '{ print $1 }'; }
gw_sink_last_ms() { gw_sink_line | awk '{ print $2 }'; }

# gw_wait_count TARGET TIMEOUT_S: waits until the sink counted TARGET messages.
gw_wait_count() {
    local target=$1 limit=$(( SECONDS + $2 ))
    while [ "$(gw_sink_count)" -lt "$target" ]; do
        [ "$SECONDS" -lt "$limit" ] || return 1
        sleep 0.1
    done
}
