//! TLS to image registries, set up the way Docker and containerd do it on Linux.
//!
//! - Trust: the system's CA bundle (`/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`, read
//!   once per process) plus, per registry, every `*.crt` file of `<certs dir>/<host[:port]>/`
//!   (Docker's `/etc/docker/certs.d`, containerd's `certs.d` hosts dir; ours is
//!   `--registry-certs-dir`, `/etc/tinykube/certs.d` by default). The registry directory is read
//!   for every pull and push, so adding a CA needs no daemon restart.
//! - Client certificates (mutual TLS): a `<name>.cert` file with its `<name>.key` in the same
//!   directory, Docker's naming (a `.cert` without its `.key`, or the other way round, is an
//!   error; the first pair by name is used).
//! - Insecure registries (Docker's `insecure-registries`) are spoken to over TLS without
//!   verifying the certificate ([`NoVerification`]); see [`crate::registry::transports`].
//!
//! Only the `ring` provider is compiled in (aws-lc-rs would need cmake to build).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// What the files of one registry's certs directory are, by Docker's naming rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertFiles {
    /// `*.crt`: extra CA roots, in name order.
    pub cas: Vec<String>,
    /// The first `<name>.cert` + `<name>.key` pair by name: a client certificate and its key.
    pub client: Option<(String, String)>,
}

/// Sorts the file names of a registry's certs directory into CA roots and a client
/// certificate, as Docker's `ReadCertsDirectory` does: `.crt` is a CA, `.cert` a client
/// certificate needing its `.key`, a `.key` needs its `.cert`; other files are ignored.
pub fn classify_cert_files(names: &[String]) -> Result<CertFiles, String> {
    let mut names: Vec<&String> = names.iter().collect();
    names.sort();
    let has = |n: &str| names.iter().any(|x| x.as_str() == n);
    let mut files = CertFiles::default();
    for name in &names {
        if name.ends_with(".crt") {
            files.cas.push(name.to_string());
        } else if let Some(base) = name.strip_suffix(".cert") {
            let key = format!("{base}.key");
            if !has(&key) {
                return Err(format!(
                    "missing key {key} for client certificate {name} (CA certificates end in .crt)"
                ));
            }
            files.client.get_or_insert((name.to_string(), key));
        } else if let Some(base) = name.strip_suffix(".key") {
            let cert = format!("{base}.cert");
            if !has(&cert) {
                return Err(format!("missing client certificate {cert} for key {name}"));
            }
        }
    }
    Ok(files)
}

/// The TLS client settings for one registry: verifying (system roots + the registry's CAs)
/// and not verifying (insecure registries); both present the registry's client certificate.
#[derive(Clone)]
pub struct RegistryTls {
    pub verified: Arc<ClientConfig>,
    pub unverified: Arc<ClientConfig>,
    /// The registry's directory, for hints in errors.
    pub dir: PathBuf,
}

impl std::fmt::Debug for RegistryTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryTls")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The directory of `registry` (`host[:port]` as the image reference names it) below
/// `certs_dir`.
pub fn registry_dir(certs_dir: &Path, registry: &str) -> PathBuf {
    certs_dir.join(registry)
}

/// Builds the TLS settings of a registry from its directory `dir` (which may not exist).
/// Errors name the file and what is wrong with it.
pub fn registry_tls(dir: &Path) -> Result<RegistryTls, String> {
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("read {}: {e}", dir.display())),
    };
    let files =
        classify_cert_files(&names).map_err(|reason| format!("{}: {reason}", dir.display()))?;
    let mut roots = system_roots().clone();
    for ca in &files.cas {
        let path = dir.join(ca);
        let mut found = 0;
        for cert in CertificateDer::pem_file_iter(&path)
            .map_err(|e| format!("CA file {}: {e}", path.display()))?
        {
            let cert = cert.map_err(|e| format!("CA file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            found += 1;
        }
        if found == 0 {
            return Err(format!(
                "CA file {}: no PEM certificate in it",
                path.display()
            ));
        }
    }
    let client = match &files.client {
        Some((cert, key)) => Some(load_client_cert(&dir.join(cert), &dir.join(key))?),
        None => None,
    };
    let provider = provider();
    let finish = |builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>| {
        let mut config = match &client {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| format!("client certificate in {}: {e}", dir.display()))?,
            None => builder.with_no_client_auth(),
        };
        // HTTP/1.1 only: that is what our client speaks (registries also offer h2).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok::<_, String>(Arc::new(config))
    };
    let versions = |p: &Arc<CryptoProvider>| {
        ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))
    };
    let verified = finish(versions(&provider)?.with_root_certificates(roots))?;
    let unverified = finish(
        versions(&provider)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider.clone()))),
    )?;
    Ok(RegistryTls {
        verified,
        unverified,
        dir: dir.to_path_buf(),
    })
}

fn load_client_cert(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "client certificate {}: no PEM certificate in it",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("client key {}: {e}", key.display()))?;
    Ok((chain, key))
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system's CA bundle, read once: what Docker's Go TLS stack trusts on Linux.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
        if !loaded.errors.is_empty() || added == 0 {
            tracing::warn!(
                added,
                ignored,
                errors = ?loaded.errors,
                "system CA certificates: some could not be read"
            );
        }
        roots
    })
}

/// Accepts any server certificate, for insecure registries (Docker's `InsecureSkipVerify`);
/// handshake signatures are still checked, so the peer holds the certificate's key.
#[derive(Debug)]
pub struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
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

/// The name to verify the server's certificate against: a DNS name or an IP address (without
/// the brackets of an IPv6 URL host).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|e| format!("bad TLS server name {host:?}: {e}"))
}

/// What went wrong in a TLS exchange, for an error that tells the user what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server answered in something that is not TLS (a plain-HTTP registry).
    NotTls,
    /// We do not trust the server's certificate (unknown CA, wrong name, expired...).
    Untrusted(String),
    /// The server refused our client certificate, or wanted one and got none.
    ClientCertificate(String),
    Other(String),
}

/// Classifies a rustls error.
pub fn classify(e: &rustls::Error) -> TlsFailure {
    use rustls::{AlertDescription as A, Error as E, InvalidMessage};
    match e {
        E::InvalidMessage(InvalidMessage::InvalidContentType)
        | E::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => TlsFailure::NotTls,
        E::InvalidCertificate(_) => TlsFailure::Untrusted(e.to_string()),
        E::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::UnsupportedCertificate
            | A::AccessDenied,
        ) => TlsFailure::ClientCertificate(e.to_string()),
        _ => TlsFailure::Other(e.to_string()),
    }
}

/// The rustls error somewhere in `err`'s source chain (also inside `io::Error`s, whose
/// `source()` skips the error they wrap).
pub fn find_tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cert_files_follow_docker_naming() {
        let pair = |c: &str, k: &str| Some((c.to_string(), k.to_string()));
        let cases: &[(&[&str], Result<CertFiles, &str>)] = &[
            (&[], Ok(CertFiles::default())),
            (
                &["ca.crt", "README", "other.crt"],
                Ok(CertFiles {
                    cas: names(&["ca.crt", "other.crt"]),
                    client: None,
                }),
            ),
            (
                &["client.key", "ca.crt", "client.cert"],
                Ok(CertFiles {
                    cas: names(&["ca.crt"]),
                    client: pair("client.cert", "client.key"),
                }),
            ),
            (
                &["b.cert", "b.key", "a.cert", "a.key"],
                Ok(CertFiles {
                    cas: vec![],
                    client: pair("a.cert", "a.key"),
                }),
            ),
            (
                &["ca.cert"],
                Err("missing key ca.key for client certificate ca.cert (CA certificates end in .crt)"),
            ),
            (
                &["client.key"],
                Err("missing client certificate client.cert for key client.key"),
            ),
            // A `.crt` with a `.key` is still only a CA: Docker pairs `.key` with `.cert`.
            (
                &["client.crt", "client.key"],
                Err("missing client certificate client.cert for key client.key"),
            ),
        ];
        for (list, want) in cases {
            assert_eq!(
                classify_cert_files(&names(list)),
                want.clone().map_err(str::to_string),
                "{list:?}"
            );
        }
    }

    #[test]
    fn tls_errors_are_classified() {
        use rustls::{AlertDescription as A, CertificateError, Error as E, InvalidMessage};
        let cases = [
            (
                E::InvalidMessage(InvalidMessage::InvalidContentType),
                TlsFailure::NotTls,
            ),
            (
                E::InvalidCertificate(CertificateError::UnknownIssuer),
                TlsFailure::Untrusted("invalid peer certificate: UnknownIssuer".into()),
            ),
            (
                E::AlertReceived(A::CertificateRequired),
                TlsFailure::ClientCertificate("received fatal alert: CertificateRequired".into()),
            ),
            (
                E::AlertReceived(A::HandshakeFailure),
                TlsFailure::Other("received fatal alert: HandshakeFailure".into()),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(classify(&e), want, "{e:?}");
        }
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner.clone());
        assert_eq!(find_tls_error(&io), Some(&inner));
        let plain = std::io::Error::other("connection reset");
        assert_eq!(find_tls_error(&plain), None);
    }

    #[test]
    fn server_names_accept_hosts_and_addresses() {
        for host in ["registry.example.com", "10.0.0.1", "[::1]", "localhost"] {
            assert!(server_name(host).is_ok(), "{host}");
        }
        assert!(server_name("bad name").is_err());
    }

    #[test]
    fn certs_dirs_are_read_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        // No directory for the registry: system roots only.
        let tls = registry_tls(&dir.path().join("absent:5000")).unwrap();
        assert!(tls.dir.ends_with("absent:5000"));
        std::fs::write(dir.path().join("ca.crt"), "not a certificate\n").unwrap();
        let e = registry_tls(dir.path()).unwrap_err();
        assert!(
            e.contains("ca.crt") && e.contains("no PEM certificate"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("ca.crt")).unwrap();
        std::fs::write(dir.path().join("client.cert"), "").unwrap();
        let e = registry_tls(dir.path()).unwrap_err();
        assert!(e.contains("missing key client.key"), "{e}");
    }
}
