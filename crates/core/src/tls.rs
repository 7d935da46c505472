//! One TLS configuration for both sides of the tool (reqwest for HTTP, our own connector for the
//! websocket), so `--insecure` means the same thing everywhere and certificates are otherwise
//! verified against the platform's trust store.
//!
//! May not touch: anything but TLS set-up (callers decide when to warn about `--insecure`).

use std::sync::{Arc, Mutex, Once, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::BuilderVerifierExt;

use crate::error::{Error, Result};

/// rustls needs a process-wide crypto provider; we use ring (small, fast to build).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The client TLS config. `insecure` accepts any certificate: the caller must warn the user.
///
/// Built once per process and shared: loading the platform trust store reads every file of
/// `/etc/ssl/certs` (a few milliseconds), and `tail` needs the config twice before its first
/// notification (the HTTP session check, then the websocket).
pub fn client_config(insecure: bool) -> Result<Arc<ClientConfig>> {
    static BUILT: Mutex<[Option<Arc<ClientConfig>>; 2]> = Mutex::new([None, None]);
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    let slot = &mut built[usize::from(insecure)];
    if let Some(config) = slot {
        return Ok(config.clone());
    }
    let config = build_client_config(insecure)?;
    *slot = Some(config.clone());
    Ok(config)
}

fn build_client_config(insecure: bool) -> Result<Arc<ClientConfig>> {
    install_crypto_provider();
    let builder = ClientConfig::builder();
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate))
            .with_no_client_auth()
    } else {
        builder
            .with_platform_verifier()
            .map_err(|e| Error::other(format!("cannot load the system's TLS trust store: {e}")))?
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `--insecure`: trust whatever the server presents (still checks handshake signatures).
#[derive(Debug)]
struct AcceptAnyCertificate;

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The warning printed every time `--insecure` is used.
pub const INSECURE_WARNING: &str = "--insecure: TLS certificates are NOT verified; anyone on the network path can read and steal your session";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_built_once_per_mode() {
        let insecure = client_config(true).unwrap();
        assert!(Arc::ptr_eq(&insecure, &client_config(true).unwrap()));
        // The platform trust store may be missing on a build machine; the cache still holds.
        if let Ok(verified) = client_config(false) {
            assert!(!Arc::ptr_eq(&insecure, &verified));
            assert!(Arc::ptr_eq(&verified, &client_config(false).unwrap()));
        }
    }
}
