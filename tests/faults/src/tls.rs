//! TLS on every hop of the suite, as the deployments run it: MariaDB requires TLS,
//! posts-service connects to it verifying its certificate and serves HTTPS itself, and
//! render-service and the scenarios' clients reach posts-service trusting only the
//! suite's CA. One throwaway CA serves the whole run.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use mysql_async::SslOpts;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use test_mariadb::tls::{ServerCert, TestCa};
use test_mariadb::MariaDb;

/// The run's CA and the certificates it signed, each for `127.0.0.1` and `localhost`.
pub struct SuiteCerts {
    ca: TestCa,
    /// MariaDB's certificate.
    pub mariadb: ServerCert,
    /// posts-service's certificate (`TLS_CERT_FILE`, `TLS_KEY_FILE`).
    pub posts: ServerCert,
}

impl SuiteCerts {
    /// The CA's certificate: what every client trusts.
    pub fn ca_file(&self) -> PathBuf {
        self.ca.ca_file()
    }
}

/// The run's certificates, made on first use.
pub fn certs() -> &'static SuiteCerts {
    static CERTS: OnceLock<SuiteCerts> = OnceLock::new();
    CERTS.get_or_init(|| {
        // rustls' process-wide provider, for mysql_async's and tokio-rustls' clients.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let ca = TestCa::new("fault suite CA");
        let names = ["127.0.0.1", "localhost"];
        SuiteCerts {
            mariadb: ca.server("mariadb", &names),
            posts: ca.server("posts-service", &names),
            ca,
        }
    })
}

/// A MariaDB container that accepts only TLS connections, with the suite's certificate.
pub async fn start_database() -> MariaDb {
    let certs = certs();
    MariaDb::start_with_tls(&certs.mariadb, &certs.ca_file()).await
}

/// How the suite's own database connections verify the server: the suite's CA only.
pub fn ssl_opts() -> SslOpts {
    SslOpts::default()
        .with_root_certs(vec![read(&certs().ca_file()).into()])
        .with_disable_built_in_roots(true)
}

/// An HTTP client builder that trusts the suite's CA (and no other).
pub fn client() -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(&read(&certs().ca_file()))
        .expect("the CA certificate is PEM");
    reqwest::Client::builder().tls_certs_only([ca])
}

/// A TLS connector for raw connections to posts-service, trusting the suite's CA.
pub fn connector() -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let pem = read(&certs().ca_file());
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.expect("the CA certificate is PEM"))
            .expect("a usable CA certificate");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}
