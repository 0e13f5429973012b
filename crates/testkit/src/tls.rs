//! A throwaway certificate authority for TLS tests: a CA and leaf certificates
//! for loopback names, written as PEM files into a temp folder.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};

use crate::{Error, Result};

/// A generated CA; issues leaf certificates and keeps its PEM on disk.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: PathBuf,
}

/// A leaf certificate and key issued by a [`TestCa`], as PEM files.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// Path of the certificate (PEM).
    pub cert: PathBuf,
    /// Path of the private key (PEM, PKCS#8).
    pub key: PathBuf,
}

fn rcgen_err(what: &str, e: rcgen::Error) -> Error {
    Error::io("test CA", what, std::io::Error::other(e.to_string()))
}

impl TestCa {
    /// Generates a CA named `name` and writes `ca.pem` into `dir`.
    pub fn new(name: &str, dir: &Path) -> Result<Self> {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| rcgen_err("CA params", e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().map_err(|e| rcgen_err("CA key", e))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| rcgen_err("self-signing CA", e))?;
        let ca = Self {
            cert,
            key,
            dir: dir.to_path_buf(),
        };
        write(&ca.ca_path(), ca.cert.pem())?;
        Ok(ca)
    }

    /// Path of the CA certificate (PEM).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA certificate as PEM text.
    pub fn ca_pem(&self) -> String {
        self.cert.pem()
    }

    /// Issues a server+client certificate for the DNS names and IPs given, saved as `<stem>.pem`/`<stem>-key.pem`.
    pub fn issue(&self, stem: &str, names: &[&str], ips: &[IpAddr]) -> Result<IssuedCert> {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map_err(|e| rcgen_err("leaf params", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or(stem));
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(stem, params)
    }

    /// Signs `params` with a new key and writes both as PEM files.
    fn sign(&self, stem: &str, params: CertificateParams) -> Result<IssuedCert> {
        let key = KeyPair::generate().map_err(|e| rcgen_err("leaf key", e))?;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(|e| rcgen_err("signing leaf", e))?;
        let issued = IssuedCert {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}-key.pem")),
        };
        write(&issued.cert, cert.pem())?;
        write(&issued.key, key.serialize_pem())?;
        Ok(issued)
    }

    /// Issues a client certificate for user `common_name` in group
    /// `organization` (how Kubernetes reads a client certificate), saved as
    /// `<stem>.pem`/`<stem>-key.pem`.
    pub fn issue_client(
        &self,
        stem: &str,
        common_name: &str,
        organization: &str,
    ) -> Result<IssuedCert> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| rcgen_err("client params", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(stem, params)
    }

    /// Issues a certificate for `localhost` and 127.0.0.1.
    pub fn issue_localhost(&self, stem: &str) -> Result<IssuedCert> {
        self.issue(stem, &["localhost"], &[IpAddr::from([127, 0, 0, 1])])
    }
}

fn write(path: &Path, text: String) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| Error::io("test CA", format!("writing {}", path.display()), e))
}
