//! Throwaway certificates for tests of TLS between the parts: a CA and the server
//! certificates it signs, written as PEM files into a directory removed on drop.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A certificate authority, and the directory its files are written to.
pub struct TestCa {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate and its key, as files signed by a [`TestCa`].
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The certificate, as PEM.
    pub cert_file: PathBuf,
    /// Its private key, as PEM (PKCS#8).
    pub key_file: PathBuf,
}

impl TestCa {
    /// A new CA named `name`, with its certificate in `ca.pem` of a fresh directory.
    pub fn new(name: &str) -> TestCa {
        let dir = std::env::temp_dir().join(format!(
            "blog-test-ca-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params
            .self_signed(&key)
            .expect("a self-signed CA certificate");
        std::fs::write(dir.join("ca.pem"), cert.pem()).expect("ca.pem written");
        TestCa {
            dir,
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's certificate: what a client that trusts this CA is given.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The directory holding every file of this CA.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A server certificate for `names` (host names or IP addresses), written as
    /// `{file_stem}.pem` and `{file_stem}.key`.
    pub fn server(&self, file_stem: &str, names: &[&str]) -> ServerCert {
        let key = KeyPair::generate().expect("a server key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, file_stem);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a server certificate");
        let cert_file = self.dir.join(format!("{file_stem}.pem"));
        let key_file = self.dir.join(format!("{file_stem}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("certificate written");
        std::fs::write(&key_file, key.serialize_pem()).expect("key written");
        ServerCert {
            cert_file,
            key_file,
        }
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
