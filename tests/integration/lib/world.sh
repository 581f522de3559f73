# The worlds of the integration stages and the bench, in one place: every stage sources
# this file (it sources lib/common.sh, the primitives) and builds its world inside the
# namespace (see netns_run in lib/common.sh).
#
#   DNSSEC world (tests/integration/dnssec.sh)
#     DNSSEC_NS_ADDRS        addresses netns_run must add to lo
#     dnssec_world_build     keys, signed zones (ldns and BIND), anchors
#     dnssec_world_start     NSD x4, Unbound
#   DANE world (tests/integration/dane.sh, bench/daneverify.sh)
#     DANE_NS_ADDRS          addresses netns_run must add to lo (servers + MX hosts)
#     dane_world_build       certificates (openssl), zones (ldns), anchors, postfix config
#     dane_world_start       NSD x3, Unbound, one danegate-smtp-sink per MX host
#     run_posttls_finger D   posttls-finger -l dane D  -> $WORK/pf.out, prints a verdict word
#     run_daneverify BIN D   danegate daneverify D     -> $WORK/dg.out/.err, prints a verdict word
#   Gateway bench world (bench/gateway.sh)
#     GW_NS_ADDRS            addresses netns_run adds to lo
#     gw_world_build / gw_world_start   certificates, zones; NSD x3, Unbound, count-only sink
#     gw_sink_count / gw_sink_last_ms / gw_sink_conns / gw_sink_tls / gw_wait_count
#
# The DANE and bench worlds need SINK (path of danegate-smtp-sink) in the environment
# for their *_world_start.

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ===================================================================================
# DNSSEC world
# ===================================================================================
#
# The world (all names under test.; the root DS is the only trust anchor); the
# table in tests/integration/README.md says what each zone is for:
#
#   .                     NSD 127.0.1.1   RSASHA256, NSEC, ldns
#   test.                 NSD 127.0.2.1   ECDSAP256, NSEC, ldns
#   sec8 / sec13 / sec15 / optout / bogusds / expired / insec .test.
#                         NSD 127.0.3.1   signed (ldns or BIND) or unsigned
#   unsigned.sec13.test. / island.optout.test.
#                         NSD 127.0.4.1   unsigned
#   dead.test.            (none)          delegated to 127.0.3.1, which refuses it

DNSSEC_NS_ADDRS=(127.0.1.1 127.0.2.1 127.0.3.1 127.0.4.1)

dnssec_world_build() {
    zones_init
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
    corrupt_rrsig "$Z/sec13.test.zone.signed" tampered.sec13.test. A
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
    sign_bind sec15.test. ED25519 "$Z/sec15.test.zone"
    local DS_SEC15=$BIND_DS

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
    sign_bind optout.test. ECDSAP256SHA256 "$Z/optout.test.zone" -3 - -H 0 -A
    local DS_OPTOUT=$BIND_DS
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

    # --- TLD test. (ECDSAP256SHA256, NSEC; 127.0.2.1) and root . (RSASHA256, NSEC;
    # 127.0.1.1); trust anchors: zone-file syntax for danegate, named.conf for delv.
    make_upper_zones RSASHA256 "$(
        delegation insec 127.0.3.1
        delegation sec8 127.0.3.1 "$DS_SEC8"
        delegation sec13 127.0.3.1 "$DS_SEC13"
        delegation sec15 127.0.3.1 "$DS_SEC15"
        delegation optout 127.0.3.1 "$DS_OPTOUT"
        delegation bogusds 127.0.3.1 "$DS_BOGUS"
        delegation expired 127.0.3.1 "$DS_EXPIRED"
        delegation dead 127.0.3.1)"
}

dnssec_world_start() {
    start_dns "children 127.0.3.1 sec8.test. insec.test. sec13.test. sec15.test. optout.test. bogusds.test. expired.test." \
        "grandchildren 127.0.4.1 island.optout.test. unsigned.sec13.test."
}

# ===================================================================================
# DANE world
# ===================================================================================
#
# The world (all names under test.; the root DS is the only trust anchor):
#
#   .           NSD 127.0.1.1   ECDSAP256, NSEC, ldns
#   test.       NSD 127.0.2.1   ECDSAP256, NSEC, ldns
#   sec.test.   NSD 127.0.3.1   ECDSAP256, NSEC, ldns; two RRSIGs corrupted
#   insec.test. NSD 127.0.3.1   unsigned (no DS, NSEC proof in test.)
#   lame.test.  (none)          delegated (no DS) to 127.0.3.1, which refuses it
#
# Every MX host has its own address 127.0.10.N where a danegate-smtp-sink
# listens on port 25 with its own certificate. The table HOSTS below is the
# single list of MX hosts; the zone data is written next to it.

DANE_NS_ADDRS=(127.0.1.1 127.0.2.1 127.0.3.1)

# name  address  certificate  sink-options
# certificate: a file stem in $WORK/certs (key: STEM.key, presented chain:
# STEM.chain.pem), or "-" for an address where nothing listens.
HOSTS=$(cat <<'EOF'
mx.ee311.sec.test.          127.0.10.1   ee311        -
mx.ee301.sec.test.          127.0.10.2   ee301ss      -
mx.ee312.sec.test.          127.0.10.3   ee312        --tls12-only
mx.ta201.sec.test.          127.0.10.4   ta201        -
mx.mismatch.sec.test.       127.0.10.5   mismatch     -
mx.unusable.sec.test.       127.0.10.6   unusable     -
mx.nostarttls.sec.test.     127.0.10.7   nostarttls   --no-starttls
mx.insecmx.sec.test.        127.0.10.8   insecmx      -
mx.insec.test.              127.0.10.9   insechost    -
mx.notlsa.sec.test.         127.0.10.10  notlsa       -
mx.bogustlsa.sec.test.      127.0.10.11  bogustlsa    -
mx1.firstfails.sec.test.    127.0.10.12  ff1          -
mx2.firstfails.sec.test.    127.0.10.13  ff2          -
mxreal.cname.sec.test.      127.0.10.14  cname        -
nomx.sec.test.              127.0.10.15  nomx         -
mx.eeexpired.sec.test.      127.0.10.16  eeexpired    -
mx.taexpired.sec.test.      127.0.10.17  taexpired    -
mx.tawrongname.sec.test.    127.0.10.18  tawrongname  -
mx.ta211.sec.test.          127.0.10.19  ta211        -
mx.agilityok.sec.test.      127.0.10.20  agilityok    --tls13-only
mx.agilityfail.sec.test.    127.0.10.21  agilityfail  -
mx.down.sec.test.           127.0.10.22  -            -
EOF
)
while read -r _n a _rest; do DANE_NS_ADDRS+=("$a"); done <<<"$HOSTS"
unset _n a _rest

# --- certificates ------------------------------------------------------------

# A minimal `openssl ca` setup: the only openssl 3.0 way to choose both
# notBefore and notAfter (x509 -req has only -days; -not_before is 3.4+).
write_ca_conf() {
    mkdir -p "$CERTS/db"
    : >"$CERTS/db/index.txt"
    cat >"$CERTS/ca.cnf" <<'EOF'
[ ca ]
default_ca = dg
[ dg ]
database = $ENV::CERTS/db/index.txt
new_certs_dir = $ENV::CERTS/db
rand_serial = yes
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[ anything ]
commonName = supplied
[ ext_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_int ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::DG_SAN
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
EOF
}

newkey() { # newkey FILE ec|rsa
    if [ "$2" = rsa ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
    else
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    fi
}

# issue STEM CN SAN ISSUER EXT [KEYTYPE] [START END]
# -> $CERTS/STEM.key, STEM.pem. ISSUER is a stem (signing cert and key).
issue() {
    local stem=$1 cn=$2 san=$3 issuer=$4 ext=$5 kt=${6:-ec}
    local start=${7:-$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)}
    local end=${8:-$(date -u -d '365 days' +%Y%m%d%H%M%SZ)}
    newkey "$CERTS/$stem.key" "$kt"
    openssl req -new -config "$CERTS/ca.cnf" -key "$CERTS/$stem.key" -subj "/CN=$cn" \
        -out "$CERTS/$stem.csr"
    DG_SAN=${san:-DNS:unused.invalid} openssl ca -batch -notext -config "$CERTS/ca.cnf" \
        -cert "$CERTS/$issuer.pem" -keyfile "$CERTS/$issuer.key" -in "$CERTS/$stem.csr" \
        -startdate "$start" -enddate "$end" -extensions "$ext" -out "$CERTS/$stem.pem" \
        2>"$CERTS/$stem.ca.log" || { cat "$CERTS/$stem.ca.log" >&2; die "openssl ca failed for $stem"; }
}

# leaf STEM MXHOST [KEYTYPE] [START END]: a leaf for MXHOST issued by the
# intermediate; presented chain leaf + intermediate.
leaf() {
    local stem=$1 host=${2%.}
    issue "$stem" "$host" "DNS:$host" int ext_leaf "${3:-ec}" "${4:-}" "${5:-}"
    cat "$CERTS/$stem.pem" "$CERTS/int.pem" >"$CERTS/$stem.chain.pem"
}

# make_ca NAME: $CERTS with the `openssl ca` set-up, a root CA (self-signed, ECDSA,
# "danegate NAME root CA") and its intermediate (pathlen 0) "int", for leaf / issue.
make_ca() {
    CERTS="$WORK/certs"
    # ca.cnf reads both from the environment (openssl refuses unset ones).
    export CERTS DG_SAN=DNS:unused.invalid
    mkdir -p "$CERTS"
    write_ca_conf
    newkey "$CERTS/ca.key" ec
    openssl req -x509 -new -config "$CERTS/ca.cnf" -key "$CERTS/ca.key" \
        -subj "/CN=danegate $1 root CA" -days 3650 -extensions ext_ca -out "$CERTS/ca.pem"
    issue int "danegate $1 intermediate CA" "" ca ext_int
}

make_certs() {
    # Root CA (self-signed) -> intermediate (pathlen 0) -> leaves.
    make_ca test

    leaf ee311 mx.ee311.sec.test rsa
    # Self-signed leaf, presented alone.
    newkey "$CERTS/ee301ss.key" ec
    DG_SAN=DNS:mx.ee301.sec.test openssl req -x509 -new -config "$CERTS/ca.cnf" \
        -key "$CERTS/ee301ss.key" -subj "/CN=mx.ee301.sec.test" -days 365 \
        -extensions ext_leaf -out "$CERTS/ee301ss.pem" 2>/dev/null
    cp "$CERTS/ee301ss.pem" "$CERTS/ee301ss.chain.pem"
    leaf ee312 mx.ee312.sec.test
    leaf ta201 mx.ta201.sec.test
    leaf mismatch mx.mismatch.sec.test
    leaf unusable mx.unusable.sec.test
    leaf nostarttls mx.nostarttls.sec.test
    leaf insecmx mx.insecmx.sec.test
    leaf insechost mx.insec.test
    leaf notlsa mx.notlsa.sec.test
    leaf bogustlsa mx.bogustlsa.sec.test
    leaf ff1 mx1.firstfails.sec.test
    leaf ff2 mx2.firstfails.sec.test
    leaf cname mxreal.cname.sec.test
    leaf nomx nomx.sec.test
    local past_start past_end
    past_start=$(date -u -d '60 days ago' +%Y%m%d%H%M%SZ)
    past_end=$(date -u -d '30 days ago' +%Y%m%d%H%M%SZ)
    leaf eeexpired mx.eeexpired.sec.test ec "$past_start" "$past_end"
    leaf taexpired mx.taexpired.sec.test ec "$past_start" "$past_end"
    # DANE-TA with a leaf whose only name is not a reference identifier.
    issue tawrongname other.example "DNS:other.example" int ext_leaf
    cat "$CERTS/tawrongname.pem" "$CERTS/int.pem" >"$CERTS/tawrongname.chain.pem"
    # DANE-TA 2 1 1 on the root CA: present the whole chain.
    leaf ta211 mx.ta211.sec.test
    cat "$CERTS/ca.pem" >>"$CERTS/ta211.chain.pem"
    leaf agilityok mx.agilityok.sec.test
    leaf agilityfail mx.agilityfail.sec.test
    # A key that no server uses (for TLSA records that match nothing).
    issue stranger stranger.invalid "DNS:stranger.invalid" int ext_leaf
}

# tlsa_data SELECTOR MTYPE CERT.pem -> hex association data
tlsa_data() {
    local sel=$1 mt=$2 cert=$3
    {
        if [ "$sel" = 0 ]; then
            openssl x509 -in "$cert" -outform DER
        else
            openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -outform DER
        fi
    } | case "$mt" in
        0) od -An -v -tx1 | tr -d ' \n' ;;
        1) sha256sum | cut -d' ' -f1 ;;
        2) sha512sum | cut -d' ' -f1 ;;
    esac
}

# tlsa USAGE SELECTOR MTYPE STEM -> "TLSA u s m hex"
tlsa() { printf 'TLSA %s %s %s %s' "$1" "$2" "$3" "$(tlsa_data "$2" "$3" "$CERTS/$4.pem")"; }

# --- zones ---------------------------------------------------------------------

host_addr() { awk -v h="$1" '$1 == h { print $2 }' <<<"$HOSTS"; }

make_zones() {
    zones_init

    # insec.test: unsigned. A domain with an insecure MX RRset pointing to a
    # host in the signed zone, and an MX host with an insecure address (its
    # TLSA record is right, but must not be used: RFC 7672 §2.2.2).
    { soa insec.test. ns.insec.test.
      cat <<EOF
@              NS    ns
ns             A     127.0.3.1
insecmx        MX    10 mx.insecmx.sec.test.
mx             A     $(host_addr mx.insec.test.)
_25._tcp.mx    $(tlsa 3 1 1 insechost)
EOF
    } >"$Z/insec.test.zone"

    # sec.test: signed; one name (or two) per scenario.
    { soa sec.test. ns.sec.test.
      cat <<EOF
@                         NS    ns
ns                        A     127.0.3.1
; DANE-EE 3 1 1 (RSA leaf from the intermediate)
ee311                     MX    10 mx.ee311
mx.ee311                  A     $(host_addr mx.ee311.sec.test.)
_25._tcp.mx.ee311         $(tlsa 3 1 1 ee311)
; DANE-EE 3 0 1 (self-signed leaf)
ee301                     MX    10 mx.ee301
mx.ee301                  A     $(host_addr mx.ee301.sec.test.)
_25._tcp.mx.ee301         $(tlsa 3 0 1 ee301ss)
; DANE-EE 3 1 2 (server: TLS 1.2 only)
ee312                     MX    10 mx.ee312
mx.ee312                  A     $(host_addr mx.ee312.sec.test.)
_25._tcp.mx.ee312         $(tlsa 3 1 2 ee312)
; DANE-TA 2 0 1 on the intermediate (presented with the leaf)
ta201                     MX    10 mx.ta201
mx.ta201                  A     $(host_addr mx.ta201.sec.test.)
_25._tcp.mx.ta201         $(tlsa 2 0 1 int)
; TLSA matching nothing
mismatch                  MX    10 mx.mismatch
mx.mismatch               A     $(host_addr mx.mismatch.sec.test.)
_25._tcp.mx.mismatch      $(tlsa 3 1 1 stranger)
; only unusable TLSA (PKIX-EE, PKIX-TA), matching the real chain
unusable                  MX    10 mx.unusable
mx.unusable               A     $(host_addr mx.unusable.sec.test.)
_25._tcp.mx.unusable      $(tlsa 1 1 1 unusable)
_25._tcp.mx.unusable      $(tlsa 0 0 1 ca)
; secure TLSA, server without STARTTLS
nostarttls                MX    10 mx.nostarttls
mx.nostarttls             A     $(host_addr mx.nostarttls.sec.test.)
_25._tcp.mx.nostarttls    $(tlsa 3 1 1 nostarttls)
; MX host of insecmx.insec.test (insecure MX RRset)
mx.insecmx                A     $(host_addr mx.insecmx.sec.test.)
_25._tcp.mx.insecmx       $(tlsa 3 1 1 insecmx)
; secure MX, MX host in the unsigned zone
insecaddr                 MX    10 mx.insec.test.
; no TLSA (NSEC-proven NXDOMAIN at _25._tcp)
notlsa                    MX    10 mx.notlsa
mx.notlsa                 A     $(host_addr mx.notlsa.sec.test.)
; bogus TLSA (RRSIG corrupted below)
bogustlsa                 MX    10 mx.bogustlsa
mx.bogustlsa              A     $(host_addr mx.bogustlsa.sec.test.)
_25._tcp.mx.bogustlsa     $(tlsa 3 1 1 bogustlsa)
; bogus MX (RRSIG corrupted below), pointing at a healthy host
bogusmx                   MX    10 mx.ee311
; first MX: TLSA of another key; second MX: right TLSA
firstfails                MX    10 mx1.firstfails
firstfails                MX    20 mx2.firstfails
mx1.firstfails            A     $(host_addr mx1.firstfails.sec.test.)
_25._tcp.mx1.firstfails   $(tlsa 3 1 1 stranger)
mx2.firstfails            A     $(host_addr mx2.firstfails.sec.test.)
_25._tcp.mx2.firstfails   $(tlsa 3 1 1 ff2)
; MX host is a CNAME; TLSA at the CNAME target only
cname                     MX    10 mx.cname
mx.cname                  CNAME mxreal.cname
mxreal.cname              A     $(host_addr mxreal.cname.sec.test.)
_25._tcp.mxreal.cname     $(tlsa 3 1 1 cname)
; no MX: the domain is its own (implicit) MX
nomx                      A     $(host_addr nomx.sec.test.)
_25._tcp.nomx             $(tlsa 3 1 1 nomx)
; DANE-EE with an expired leaf (dates are ignored)
eeexpired                 MX    10 mx.eeexpired
mx.eeexpired              A     $(host_addr mx.eeexpired.sec.test.)
_25._tcp.mx.eeexpired     $(tlsa 3 1 1 eeexpired)
; DANE-TA with an expired leaf (dates are checked)
taexpired                 MX    10 mx.taexpired
mx.taexpired              A     $(host_addr mx.taexpired.sec.test.)
_25._tcp.mx.taexpired     $(tlsa 2 0 1 int)
; DANE-TA, leaf names only other.example
tawrongname               MX    10 mx.tawrongname
mx.tawrongname            A     $(host_addr mx.tawrongname.sec.test.)
_25._tcp.mx.tawrongname   $(tlsa 2 0 1 int)
; DANE-TA 2 1 1 on the root CA's key (server presents the full chain)
ta211                     MX    10 mx.ta211
mx.ta211                  A     $(host_addr mx.ta211.sec.test.)
_25._tcp.mx.ta211         $(tlsa 2 1 1 ca)
; digest agility (RFC 7671 §9): SHA2-512 record right, SHA2-256 record wrong
agilityok                 MX    10 mx.agilityok
mx.agilityok              A     $(host_addr mx.agilityok.sec.test.)
_25._tcp.mx.agilityok     $(tlsa 3 1 1 stranger)
_25._tcp.mx.agilityok     $(tlsa 3 1 2 agilityok)
; digest agility: SHA2-256 right, SHA2-512 wrong -> only SHA2-512 counts
agilityfail               MX    10 mx.agilityfail
mx.agilityfail            A     $(host_addr mx.agilityfail.sec.test.)
_25._tcp.mx.agilityfail   $(tlsa 3 1 1 agilityfail)
_25._tcp.mx.agilityfail   $(tlsa 3 1 2 stranger)
; the only MX host refuses connections (nothing listens)
down                      MX    10 mx.down
mx.down                   A     $(host_addr mx.down.sec.test.)
_25._tcp.mx.down          $(tlsa 3 1 1 stranger)
EOF
    } >"$Z/sec.test.zone"
    make_keys_ldns sec.test. ECDSAP256SHA256
    sign_ldns sec.test. "$Z/sec.test.zone"
    corrupt_rrsig "$Z/sec.test.zone.signed" _25._tcp.mx.bogustlsa.sec.test. TLSA
    corrupt_rrsig "$Z/sec.test.zone.signed" bogusmx.sec.test. MX
    local DS_SEC; DS_SEC=$(ds_ldns)

    make_upper_zones ECDSAP256SHA256 "$(
        delegation insec 127.0.3.1
        delegation sec 127.0.3.1 "$DS_SEC"
        delegation lame 127.0.3.1)"
}

# Postfix configuration for posttls-finger (MAIL_CONFIG=$WORK/postfix): no
# public CAs, DNSSEC via the AD bit of the resolver in /etc/resolv.conf (the
# namespace's copy, see NETNS_RESOLV in lib/common.sh).
make_postfix_conf() {
    mkdir -p "$WORK/postfix"
    cat >"$WORK/postfix/main.cf" <<'EOF'
compatibility_level = 3.6
myhostname = client.danegate.test
inet_protocols = ipv4
smtp_address_preference = ipv4
smtp_dns_support_level = dnssec
smtp_tls_security_level = dane
smtp_tls_loglevel = 1
EOF
}

dane_world_build() {
    local t0=$SECONDS
    make_certs
    make_zones
    make_postfix_conf
    log "world built in $((SECONDS - t0)) s"
}

start_sink() { # start_sink HOST ADDR STEM OPTS
    local host=$1 addr=$2 stem=$3 opts=$4 args=()
    [ "$stem" = - ] && return 0
    [ "$opts" = - ] || read -r -a args <<<"$opts"
    local logf="$WORK/sinks/${host%.}.log"
    "$SINK" --listen "$addr:25" --hostname "${host%.}" \
        --cert-chain "$CERTS/$stem.chain.pem" --key "$CERTS/$stem.key" "${args[@]}" \
        >"$logf" 2>&1 &
    CHILD_PIDS+=("$!")
}

wait_sinks() {
    local host addr stem _opts
    while read -r host addr stem _opts; do
        [ "$stem" = - ] && continue
        wait_log "$WORK/sinks/${host%.}.log" "sink for $host ($addr)"
    done <<<"$HOSTS"
}

dane_world_start() {
    local t0=$SECONDS host addr stem opts
    start_dns "children 127.0.3.1 sec.test. insec.test."
    mkdir -p "$WORK/sinks"
    while read -r host addr stem opts; do
        start_sink "$host" "$addr" "$stem" "$opts"
    done <<<"$HOSTS"
    wait_sinks
    log "servers up after $((SECONDS - t0)) s"
}

# --- the two clients -------------------------------------------------------------

# run_posttls_finger DOMAIN: probes DOMAIN at the dane level (-v: the
# "resorting to secure" line is only logged verbosely); output in
# $WORK/pf.out; prints one verdict word:
#   verified   "Verified TLS connection established": DANE-authenticated
#   trusted    "Trusted TLS connection established": DANE-authenticated MX host
#              behind an insecure MX RRset ("log verified as trusted")
#   nodane     no usable TLSA ("... resorting to \"secure\""): posttls-finger
#              checks the certificate against public CAs (none configured);
#              Postfix's smtp(8) would send over unauthenticated TLS
#   certfail   usable TLSA, certificate verification failed
#   dnserror   MX/address/TLSA lookup failure (e.g. bogus data: Unbound SERVFAIL)
#   noconnect  no server reachable
#   notls      connected, the server offered no STARTTLS (probe stops: no plain text)
#   untrusted / anonymous   other unauthenticated TLS sessions
#   unknown    anything else (see pf.out)
run_posttls_finger() {
    local d=$1 out="$WORK/pf.out"
    MAIL_CONFIG="$WORK/postfix" timeout 30 posttls-finger -v -l dane -t 5 -T 5 \
        -L routine,certmatch "$d" >"$out" 2>&1 || true
    classify_postfix <"$out"
}

classify_postfix() {
    local out; out=$(cat)
    if grep -q 'Verified TLS connection established' <<<"$out"; then echo verified
    elif grep -q 'Trusted TLS connection established' <<<"$out"; then echo trusted
    elif grep -q 'TLSA records found, resorting to "secure"' <<<"$out"; then echo nodane
    elif grep -q 'certificate verification failed' <<<"$out"; then echo certfail
    elif grep -q 'TLSA lookup error\|Name service error\|lookup failed' <<<"$out"; then echo dnserror
    elif grep -q 'Connection refused\|Connection timed out\|No route to host' <<<"$out" \
         && ! grep -q ': Connected to ' <<<"$out"; then echo noconnect
    elif grep -q ': Connected to ' <<<"$out" && ! grep -q 'TLS connection established' <<<"$out" \
         && ! grep -q '< 250[ -]STARTTLS' <<<"$out"; then echo notls
    elif grep -q 'Untrusted TLS connection established' <<<"$out"; then echo untrusted
    elif grep -q 'Anonymous TLS connection established' <<<"$out"; then echo anonymous
    else echo unknown
    fi
}

# run_daneverify BIN DOMAIN [MODE] (MODE: mandatory, the default, or
# opportunistic): output in $WORK/dg.out / dg.err; prints one verdict word:
#   success   "DANE SUCCESS for D", exit 0
#   failed    "DANE FAILED for D", exit 1
#   fallback  exit 3 (opportunistic only; no SUCCESS/FAILED line)
#   tempfail  exit 75 (no SUCCESS line)
#   usage     exit 64
# Anything else (a verdict line that does not fit the exit code, no verdict
# line, a crash) gives "odd(rc=N,...)".
run_daneverify() {
    local bin=$1 d=$2 mode=${3:-mandatory} rc=0
    timeout 60 "$bin" daneverify --resolver 127.0.0.1 --trust-anchor "$WORK/root-anchor.zone" \
        --mode "$mode" "$d" >"$WORK/dg.out" 2>"$WORK/dg.err" || rc=$?
    local ok=0 failed=0
    grep -qx "DANE SUCCESS for ${d%.}\.\?" "$WORK/dg.out" && ok=1
    grep -qx "DANE FAILED for ${d%.}\.\?" "$WORK/dg.out" && failed=1
    case "$rc/$ok/$failed" in
        0/1/0) echo success ;;
        1/0/1) echo failed ;;
        3/0/0) echo fallback ;;
        75/0/*) echo tempfail ;;
        64/*) echo usage ;;
        *) echo "odd(rc=$rc,success-line=$ok,failed-line=$failed)" ;;
    esac
}

# ===================================================================================
# Gateway bench world (bench/gateway.sh)
# ===================================================================================
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

GW_MX_ADDR=127.0.20.1
GW_DOWN_ADDR=127.0.20.2
GW_NS_ADDRS=(127.0.1.1 127.0.2.1 127.0.3.1 "$GW_MX_ADDR" "$GW_DOWN_ADDR" 127.0.0.2)

gw_make_certs() {
    make_ca bench
    # ECDSA P-256 leaf (the sink accepts TLS 1.2 and 1.3).
    leaf mx mx.bench.test
}

gw_make_zones() {
    zones_init

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
    make_upper_zones ECDSAP256SHA256 "$(delegation bench 127.0.3.1 "$(ds_ldns)")"
}

gw_world_build() {
    local t0=$SECONDS
    gw_make_certs
    gw_make_zones
    log "world built in $((SECONDS - t0)) s"
}

gw_world_start() {
    local t0=$SECONDS
    start_dns "bench 127.0.3.1 bench.test."
    mkdir -p "$WORK/sink"
    SINK_COUNT_FILE="$WORK/sink/count"
    "$SINK" --listen "$GW_MX_ADDR:25" --hostname mx.bench.test \
        --cert-chain "$CERTS/mx.chain.pem" --key "$CERTS/mx.key" \
        --count-only --count-file "$SINK_COUNT_FILE" >"$WORK/sink/sink.log" 2>&1 &
    CHILD_PIDS+=("$!")
    SINK_PID=$!
    wait_log "$WORK/sink/sink.log" "the sink"
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
