//! How a PostgreSQL URL asks for TLS, and the connection it makes (docs/OPERATIONS.md, "TLS").
//!
//! `sslmode` takes libpq's five values; the `postgres` crate knows only three, so this module
//! reads `sslmode` and `sslrootcert` off the URL itself and decides what to verify:
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default) | when the server offers it | not checked; with `sslrootcert`, as `verify-ca` |
//! | `require` | always | not checked; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | signed by a trusted root, any host name |
//! | `verify-full` | always | signed by a trusted root and naming the host connected to |
//!
//! The trusted roots are the PEM file `sslrootcert=PATH`, else (or with `sslrootcert=system`)
//! the system's store.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::{Client, NoTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::StoreError;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// As written in a URL.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// `sslrootcert=PATH`: the certificates of a PEM file (a private CA).
    File(PathBuf),
    /// `sslrootcert=system`, or none given: the system's store.
    System,
}

/// Why a PostgreSQL URL or its TLS settings were refused. Never holds the URL (its password).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "sslmode={0}: expected disable, prefer, require, verify-ca or verify-full (docs/OPERATIONS.md, \"TLS\")"
    )]
    SslMode(String),
    #[error("{0}")]
    Url(postgres::Error),
    #[error("sslrootcert={path}: {reason}")]
    RootCert { path: String, reason: String },
    #[error(
        "sslmode={0}: no trusted root certificate in the system's store; give sslrootcert=PATH"
    )]
    NoSystemRoots(&'static str),
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS with sslmode={mode} failed: {cause}{hint}")]
    Handshake {
        mode: &'static str,
        cause: String,
        hint: &'static str,
    },
}

/// A parsed `postgres://…` URL: what the `postgres` crate reads, and the TLS it cannot.
#[derive(Debug)]
pub struct PgTarget {
    pub config: postgres::Config,
    pub ssl_mode: SslMode,
    /// `sslrootcert`, if given.
    pub root_certs: Option<RootCerts>,
}

impl PgTarget {
    /// Reads `url`, taking `sslmode` and `sslrootcert` out of its query before the `postgres`
    /// crate parses the rest (it knows neither `verify-*` nor `sslrootcert`).
    pub fn parse(url: &str) -> Result<PgTarget, TlsError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut ssl_mode = SslMode::Prefer;
        let mut root_certs = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    ssl_mode = match percent_decode(value).as_str() {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => return Err(TlsError::SslMode(other.to_owned())),
                    }
                }
                "sslrootcert" => {
                    root_certs = Some(match percent_decode(value).as_str() {
                        "system" => RootCerts::System,
                        path => RootCerts::File(PathBuf::from(path)),
                    })
                }
                _ => rest.push(pair),
            }
        }
        let rest = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config: postgres::Config = rest.parse().map_err(TlsError::Url)?;
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        });
        Ok(PgTarget {
            config,
            ssl_mode,
            root_certs,
        })
    }

    /// Connects with the TLS the URL asks for.
    pub fn connect(&self) -> Result<Client, StoreError> {
        if self.ssl_mode == SslMode::Disable {
            return Ok(self.config.connect(NoTls)?);
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.client_config()?);
        self.config
            .connect(tls)
            .map_err(|error| self.handshake_failure(error))
    }

    /// A failed TLS handshake said with its cause (the `postgres` crate's message stops at
    /// "error performing TLS handshake") and what usually causes it; other errors as they are.
    fn handshake_failure(&self, error: postgres::Error) -> StoreError {
        if error.to_string() != "error performing TLS handshake" {
            return error.into();
        }
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        causes.dedup();
        let cause = causes.join(": ");
        let hint = if cause.contains("UnknownIssuer") || cause.contains("BadSignature") {
            " (the server's certificate is not signed by a root of sslrootcert, or of the \
             system's store without it)"
        } else if cause.contains("not valid for name") {
            " (the server's certificate does not name the host of the URL; verify-ca does \
             not check the name)"
        } else if cause.contains("does not support TLS") {
            " (the server runs with ssl=off; sslmode=prefer falls back to no TLS)"
        } else {
            ""
        };
        StoreError::PgTls(TlsError::Handshake {
            mode: self.ssl_mode.name(),
            cause,
            hint,
        })
    }

    /// What rustls checks of the server's certificate, as the table at the top says.
    fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match (self.ssl_mode, &self.root_certs) {
            // libpq checks nothing here unless it was given roots to check against.
            (SslMode::Prefer | SslMode::Require, None) => Arc::new(AnyCertificate {
                provider: provider.clone(),
            }),
            (mode, roots) => {
                let roots = roots.clone().unwrap_or(RootCerts::System);
                let webpki = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(load_roots(&roots, mode)?),
                    provider.clone(),
                )
                .build()
                .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
                // libpq checks the chain under `prefer` and `require` too once it has roots.
                if mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(AnyHostName { webpki })
                }
            }
        };
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }
}

/// Stops a connection's running statement: the cancel request is a new connection to the
/// same server, with the same TLS.
pub struct Canceller {
    token: postgres::CancelToken,
    url: String,
}

impl Canceller {
    pub fn new(client: &Client, url: &str) -> Canceller {
        Canceller {
            token: client.cancel_token(),
            url: url.to_owned(),
        }
    }

    /// Sends the request (best effort: the statement may have ended meanwhile).
    pub fn cancel(self) {
        let Ok(target) = PgTarget::parse(&self.url) else {
            return;
        };
        let _ = match target.ssl_mode {
            SslMode::Disable => self.token.cancel_query(NoTls),
            _ => match target.client_config() {
                Ok(config) => self
                    .token
                    .cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new(config)),
                Err(_) => return,
            },
        };
    }
}

/// Connects to `url` (`postgres://…` or `postgresql://…`) with the TLS it asks for.
pub fn connect(url: &str) -> Result<Client, StoreError> {
    PgTarget::parse(url)?.connect()
}

fn load_roots(roots: &RootCerts, mode: SslMode) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::File(path) => {
            let refused = |reason: String| TlsError::RootCert {
                path: path.display().to_string(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| refused(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| refused(e.to_string()))?;
            if certs.is_empty() {
                return Err(refused("no PEM certificate in the file".to_owned()));
            }
            for cert in certs {
                store.add(cert).map_err(|e| refused(e.to_string()))?;
            }
        }
        RootCerts::System => {
            // Unreadable entries of the store are skipped, as every TLS client does.
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(TlsError::NoSystemRoots(mode.name()));
            }
        }
    }
    Ok(store)
}

/// `verify-ca`: the chain must end at a trusted root; the name in the certificate is not
/// checked (rustls checks it last, so a name error means the chain passed).
#[derive(Debug)]
struct AnyHostName {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `prefer` and `require` without roots: encryption against a passive listener only, as
/// libpq; the handshake's signatures are still checked against the certificate presented.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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

/// `%2F` as `/` (a path in a URL's query is percent-encoded); anything malformed is kept.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_takes_libpqs_five_values() {
        let mode = |url: &str| PgTarget::parse(url).map(|t| t.ssl_mode);
        assert_eq!(mode("postgres://h/db").ok(), Some(SslMode::Prefer));
        for (text, expected) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let url = format!("postgres://u:p@h:5432/db?application_name=a&sslmode={text}");
            let target = PgTarget::parse(&url).expect("valid");
            assert_eq!(target.ssl_mode, expected);
            assert_eq!(target.config.get_application_name(), Some("a"));
        }
        assert!(matches!(
            PgTarget::parse("postgres://h/db?sslmode=allow-all"),
            Err(TlsError::SslMode(_))
        ));
        assert!(matches!(
            PgTarget::parse("postgres://h/db?sslcert=/c.pem"),
            Err(TlsError::Url(_))
        ));
    }

    #[test]
    fn sslrootcert_names_a_file_or_the_system() {
        let target =
            PgTarget::parse("postgres://h/db?sslrootcert=%2Fetc%2Fca%20x.pem&sslmode=verify-ca")
                .expect("valid");
        assert_eq!(
            target.root_certs,
            Some(RootCerts::File("/etc/ca x.pem".into()))
        );
        let target = PgTarget::parse("postgres://h/db?sslrootcert=system").expect("valid");
        assert_eq!(target.root_certs, Some(RootCerts::System));
    }

    #[test]
    fn a_missing_root_file_is_named_without_the_password() {
        let target =
            PgTarget::parse("postgres://u:s3cret@h/db?sslmode=verify-full&sslrootcert=/nope.pem")
                .expect("valid");
        let error = target
            .client_config()
            .expect_err("no such file")
            .to_string();
        assert!(error.starts_with("sslrootcert=/nope.pem: "), "{error}");
        assert!(!error.contains("s3cret"));
    }
}
