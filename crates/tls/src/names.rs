//! OpenSSL-style protocol and cipher names, as the appliance's logs and `daneverify`
//! print them (`protocol TLSv1.2, cipher ECDHE-RSA-AES256-GCM-SHA384`).

use rustls::{CipherSuite, ProtocolVersion};

/// `"TLSv1.2"`, `"TLSv1.3"` (OpenSSL's `SSL_get_version` names); `"UNKNOWN"` for
/// anything else.
pub fn protocol_name(version: ProtocolVersion) -> &'static str {
    match version {
        ProtocolVersion::SSLv2 => "SSLv2",
        ProtocolVersion::SSLv3 => "SSLv3",
        ProtocolVersion::TLSv1_0 => "TLSv1",
        ProtocolVersion::TLSv1_1 => "TLSv1.1",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        _ => "UNKNOWN",
    }
}

/// The OpenSSL name of a cipher suite: every suite the rustls *ring* provider
/// offers, plus the common suites other servers negotiate (for logs of peers).
/// TLS 1.3 suites keep their IANA names, as OpenSSL prints them. `"UNKNOWN"` for
/// anything else.
pub fn openssl_cipher_name(suite: CipherSuite) -> &'static str {
    use CipherSuite as C;
    match suite {
        // TLS 1.3 (rustls ring provider).
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        // TLS 1.2 (rustls ring provider).
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        // Others, for completeness of logs (rustls never negotiates these).
        C::TLS_DHE_RSA_WITH_AES_256_GCM_SHA384 => "DHE-RSA-AES256-GCM-SHA384",
        C::TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 => "DHE-RSA-AES128-GCM-SHA256",
        C::TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "DHE-RSA-CHACHA20-POLY1305",
        C::TLS_RSA_WITH_AES_256_GCM_SHA384 => "AES256-GCM-SHA384",
        C::TLS_RSA_WITH_AES_128_GCM_SHA256 => "AES128-GCM-SHA256",
        C::TLS13_AES_128_CCM_SHA256 => "TLS_AES_128_CCM_SHA256",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ring_suite_has_a_name() {
        for suite in rustls::crypto::ring::ALL_CIPHER_SUITES {
            let name = openssl_cipher_name(suite.suite());
            assert_ne!(name, "UNKNOWN", "{:?}", suite.suite());
        }
        assert_eq!(rustls::crypto::ring::ALL_CIPHER_SUITES.len(), 9);
    }

    #[test]
    fn appliance_names() {
        assert_eq!(
            openssl_cipher_name(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
            "ECDHE-RSA-AES256-GCM-SHA384"
        );
        assert_eq!(
            openssl_cipher_name(CipherSuite::TLS_DHE_RSA_WITH_AES_256_GCM_SHA384),
            "DHE-RSA-AES256-GCM-SHA384"
        );
        assert_eq!(
            openssl_cipher_name(CipherSuite::TLS13_AES_256_GCM_SHA384),
            "TLS_AES_256_GCM_SHA384"
        );
        assert_eq!(
            openssl_cipher_name(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        );
        assert_eq!(openssl_cipher_name(CipherSuite::Unknown(0x1234)), "UNKNOWN");
        assert_eq!(protocol_name(ProtocolVersion::TLSv1_2), "TLSv1.2");
        assert_eq!(protocol_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
        assert_eq!(protocol_name(ProtocolVersion::Unknown(7)), "UNKNOWN");
    }
}
