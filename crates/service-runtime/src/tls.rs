//! TLS with rustls: the certificate and key a listener serves (`TLS_CERT_FILE`,
//! `TLS_KEY_FILE`), the CA bundles clients trust, all read from PEM files when the
//! service starts.
//!
//! Errors are [`ConfigError`]s naming the variable and the file's path, never the
//! file's content (a key is a secret). Every configuration is built with the
//! [`provider`] explicitly; libraries that build their own from rustls' process-wide
//! default (mysql_async) need [`install_default_provider`] first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config_error::ConfigError;

/// The certificate and key files of a listener that serves HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `TLS_CERT_FILE`: the certificate, then any intermediates, as PEM.
    pub cert_file: PathBuf,
    /// `TLS_KEY_FILE`: the certificate's private key as PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// The cryptography every TLS configuration here uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Makes [`provider`] rustls' process-wide default, unless one is installed already.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The server side of TLS for `files`: HTTP/1.1 over TLS 1.2 or 1.3.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let certs = certificates("TLS_CERT_FILE", &files.cert_file)?;
    let key = private_key("TLS_KEY_FILE", &files.key_file)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| ConfigError::invalid("TLS_CERT_FILE", err))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| {
            ConfigError::invalid(
                "TLS_KEY_FILE",
                format_args!(
                    "does not hold the private key of the certificate in TLS_CERT_FILE, or the \
                     certificate is unusable ({}): {err}",
                    files.key_file.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of the PEM file `path` that `variable` names: at least one.
pub fn certificates(
    variable: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|err| pem_error(variable, path, "certificate", err))?;
    if certs.is_empty() {
        return Err(pem_error(
            variable,
            path,
            "certificate",
            pem::Error::NoItemsFound,
        ));
    }
    Ok(certs)
}

/// The CA certificates of the PEM bundle `path` that `variable` names, as the roots a
/// client trusts.
pub fn root_store(variable: &str, path: &Path) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(variable, path)? {
        roots.add(cert).map_err(|err| {
            ConfigError::invalid(
                variable,
                format_args!(
                    "names a file holding a certificate that cannot be trusted as a CA ({}): {err}",
                    path.display()
                ),
            )
        })?;
    }
    Ok(roots)
}

fn private_key(variable: &str, path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| pem_error(variable, path, "private key", err))
}

/// What went wrong reading a PEM file: the variable, the path and the kind of problem;
/// never a line of the file.
fn pem_error(variable: &str, path: &Path, wanted: &str, err: pem::Error) -> ConfigError {
    let path = path.display();
    match err {
        pem::Error::Io(err) => ConfigError::invalid(
            variable,
            format_args!("names a file that cannot be read ({path}): {}", err.kind()),
        ),
        pem::Error::NoItemsFound => ConfigError::invalid(
            variable,
            format_args!("names a file that holds no PEM {wanted} ({path})"),
        ),
        _ => ConfigError::invalid(
            variable,
            format_args!("names a file that is not valid PEM ({path})"),
        ),
    }
}

/// A client configuration that trusts only `certificate`, whatever name it carries:
/// for a process checking its own listener (the health check), which serves exactly
/// that certificate.
pub fn client_config_pinned(certificate: CertificateDer<'static>) -> rustls::ClientConfig {
    let provider = provider();
    let verifier = Arc::new(Pinned {
        certificate,
        provider: provider.clone(),
    });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Accepts exactly one end-entity certificate, and checks the handshake's signatures
/// with its key.
#[derive(Debug)]
struct Pinned {
    certificate: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
