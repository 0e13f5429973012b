//! TLS client settings: which roots to trust, an extra CA, client
//! certificates, and the opt-in to skip verification. Verification is on by
//! default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{ConfigError, TlsFile};

/// Which built-in roots to trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Roots {
    /// The operating system's trust store (falls back to webpki roots when empty).
    #[default]
    System,
    /// Mozilla's roots compiled into the binary.
    Webpki,
    /// No built-in roots: only the extra CA files.
    None,
}

/// TLS settings of a prober.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// Built-in roots to trust.
    pub roots: Roots,
    /// Extra CA certificates (PEM files) to trust as well.
    pub extra_ca: Vec<PathBuf>,
    /// Skip certificate verification (off by default).
    pub insecure: bool,
    /// Client certificate chain and key (PEM files) for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// ALPN protocols to offer, in preference order (default: h2, http/1.1).
    pub alpn: Option<Vec<Vec<u8>>>,
}

impl TlsConfig {
    /// Builds the rustls client configuration.
    pub fn build(&self) -> Result<Arc<ClientConfig>, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        } else {
            builder.with_root_certificates(self.root_store()?)
        };
        let mut config = match &self.client_cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(read_certs(cert, TlsFile::ClientCert)?, read_key(key)?)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self
            .alpn
            .clone()
            .unwrap_or_else(|| vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        Ok(Arc::new(config))
    }

    fn root_store(&self) -> Result<RootCertStore, ConfigError> {
        let mut store = RootCertStore::empty();
        match self.roots {
            Roots::System => {
                let native = rustls_native_certs::load_native_certs();
                for cert in native.certs {
                    let _ = store.add(cert);
                }
                if store.is_empty() {
                    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
            }
            Roots::Webpki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::None => {}
        }
        for path in &self.extra_ca {
            for cert in read_certs(path, TlsFile::CaFile)? {
                store.add(cert).map_err(|e| ConfigError::Pem {
                    file: TlsFile::CaFile,
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(store)
    }
}

fn read(path: &Path, file: TlsFile) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        file,
        path: path.to_path_buf(),
        source,
    })
}

/// Reads every certificate in a PEM file; an empty or malformed file is an error.
pub fn read_certs(path: &Path, file: TlsFile) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bytes = read(path, file)?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut bytes.as_slice()).collect();
    let pem_err = |reason: String| ConfigError::Pem {
        file,
        path: path.to_path_buf(),
        reason,
    };
    let certs = certs.map_err(|e| pem_err(format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_err("no PEM certificate found".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let bytes = read(path, TlsFile::ClientKey)?;
    let pem_err = |reason: String| ConfigError::Pem {
        file: TlsFile::ClientKey,
        path: path.to_path_buf(),
        reason,
    };
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .map_err(|e| pem_err(format!("malformed PEM: {e}")))?
        .ok_or_else(|| pem_err("no PEM private key found".into()))
}

/// Accepts any certificate; used only when the user asked for `insecure`.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The `notAfter` time of a DER certificate, as seconds since the Unix epoch.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    x509_parser::parse_x509_certificate(cert.as_ref())
        .ok()
        .map(|(_, c)| c.validity().not_after.timestamp())
}
