//! HTTP request and TLS flags shared by `ward probe`, `ward load` and
//! `ward keepalive`, and the one function that turns them into a request.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::builder::BoolishValueParser;
use ward_probe::http::{HttpRequest, HttpVersion};
use ward_probe::tls::{Roots, TlsConfig};
use ward_probe::{ConfigError, TlsFile};

/// Request flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RequestArgs {
    /// HTTP method (default GET; POST for `keepalive race`).
    #[arg(long, short = 'X')]
    pub(crate) method: Option<String>,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    pub(crate) headers: Vec<String>,
    /// Request body.
    #[arg(long, short = 'd')]
    pub(crate) data: Option<String>,
    /// Speak HTTP/1.1 only.
    #[arg(long, conflicts_with = "http2", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) http1: bool,
    /// Speak HTTP/2 only (prior knowledge on plain HTTP).
    #[arg(long, value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) http2: bool,
}

impl RequestArgs {
    /// The HTTP version asked for.
    pub(crate) fn http_version(&self) -> HttpVersion {
        if self.http1 {
            HttpVersion::Http1
        } else if self.http2 {
            HttpVersion::Http2
        } else {
            HttpVersion::Auto
        }
    }
}

/// TLS flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TlsArgs {
    /// Skip TLS certificate verification.
    #[arg(long, short = 'k', value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) insecure: bool,
    /// Extra CA certificate file (PEM) to trust (repeatable).
    #[arg(long = "cacert")]
    pub(crate) ca_files: Vec<PathBuf>,
    /// Built-in roots to trust.
    #[arg(long, value_enum, default_value = "system")]
    pub(crate) roots: RootsArg,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, requires = "cert")]
    pub(crate) key: Option<PathBuf>,
}

/// `--roots` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum RootsArg {
    /// The operating system's trust store.
    System,
    /// Mozilla's roots built into ward.
    Webpki,
    /// Only `--cacert` files.
    None,
}

impl TlsArgs {
    /// The probe TLS settings (files are read where they are used; see
    /// [`tls_file_error`] for how their errors name the flag).
    pub(crate) fn config(&self) -> TlsConfig {
        TlsConfig {
            roots: match self.roots {
                RootsArg::System => Roots::System,
                RootsArg::Webpki => Roots::Webpki,
                RootsArg::None => Roots::None,
            },
            extra_ca: self.ca_files.clone(),
            insecure: self.insecure,
            client_cert: self.cert.clone().zip(self.key.clone()),
            ..TlsConfig::default()
        }
    }
}

/// For a failure caused by a TLS file given with `--cacert`, `--cert` or
/// `--key` (in any subcommand, wherever the settings were built), the line to
/// print: the flag, then what is wrong with the file.
pub(crate) fn tls_file_error(err: &anyhow::Error) -> Option<String> {
    let e = err.chain().find_map(|c| c.downcast_ref::<ConfigError>())?;
    let flag = match e.tls_file()? {
        TlsFile::CaFile => "--cacert",
        TlsFile::ClientCert => "--cert",
        TlsFile::ClientKey => "--key",
        TlsFile::ServerCert | TlsFile::ServerKey => return None,
    };
    Some(format!("{flag}: {e}"))
}

/// Builds the request for `url` from the flags; `default_method` when `-X` is absent.
pub(crate) fn request_from(
    args: &RequestArgs,
    url: &str,
    default_method: &str,
) -> anyhow::Result<HttpRequest> {
    let parsed: url::Url = url
        .parse()
        .map_err(|e| anyhow::anyhow!("URL {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        bail!("URL {url:?}: expected an http:// or https:// URL with a host");
    }
    request_for(args, parsed, default_method)
}

/// Builds the request for an already checked `url` from the flags.
pub(crate) fn request_for(
    args: &RequestArgs,
    url: url::Url,
    default_method: &str,
) -> anyhow::Result<HttpRequest> {
    let mut request = HttpRequest::get(url);
    let method = args.method.as_deref().unwrap_or(default_method);
    request.method = method
        .parse()
        .map_err(|_| anyhow::anyhow!("--method {method:?}: not an HTTP method"))?;
    for header_arg in &args.headers {
        request.headers.push(header(header_arg)?);
    }
    if let Some(data) = &args.data {
        request.body = data.clone().into();
    }
    Ok(request)
}

/// Parses a `--header` value, `Name: value`, into an HTTP header.
fn header(input: &str) -> anyhow::Result<(http::header::HeaderName, http::header::HeaderValue)> {
    let (name, value) = input
        .split_once(':')
        .with_context(|| format!("--header {input:?}: expected `Name: value`"))?;
    Ok((
        name.trim()
            .parse()
            .with_context(|| format!("--header {input:?}: invalid header name"))?,
        value
            .trim()
            .parse()
            .with_context(|| format!("--header {input:?}: invalid header value"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_file_errors_name_the_flag_that_gave_the_file() {
        let pem = |file| ConfigError::Pem {
            file,
            path: "/x.pem".into(),
            reason: "no PEM certificate found".into(),
        };
        let wrapped = anyhow::Error::from(pem(TlsFile::ClientKey)).context("TLS settings");
        assert_eq!(
            tls_file_error(&wrapped).as_deref(),
            Some("--key: client key /x.pem: no PEM certificate found")
        );
        assert_eq!(
            tls_file_error(&pem(TlsFile::CaFile).into()).as_deref(),
            Some("--cacert: CA file /x.pem: no PEM certificate found")
        );
        assert_eq!(tls_file_error(&pem(TlsFile::ServerCert).into()), None);
        assert_eq!(tls_file_error(&anyhow::anyhow!("other")), None);
    }
}
