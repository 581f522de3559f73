//! rustls client configurations for SMTP delivery.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::Resumption;
use rustls_pki_types::{InvalidDnsNameError, ServerName};

use crate::verifier::DaneVerifier;

/// A client configuration that judges certificates with `verifier`:
/// - the *ring* provider only (`builder_with_provider`: a second provider in the
///   tree would make `ClientConfig::builder()` panic);
/// - TLS 1.3 and TLS 1.2;
/// - session resumption disabled: a resumed TLS 1.3 session presents no
///   certificate and would skip the verifier;
/// - SNI enabled: connect with [`server_name`] of the TLSA base domain
///   (RFC 7672 §8.1).
///
/// No client certificate. Fails only if the provider cannot do TLS 1.2/1.3.
pub fn client_config(verifier: Arc<DaneVerifier>) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(verifier.provider().clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    config.enable_sni = true;
    config.enable_early_data = false;
    Ok(Arc::new(config))
}

/// The name to pass to rustls for SNI: the TLSA base domain (RFC 7672 §8.1),
/// without a trailing dot. An IP address gives no SNI.
pub fn server_name(tlsa_base_domain: &str) -> Result<ServerName<'static>, InvalidDnsNameError> {
    let name = tlsa_base_domain
        .strip_suffix('.')
        .unwrap_or(tlsa_base_domain);
    ServerName::try_from(name.to_string())
}
