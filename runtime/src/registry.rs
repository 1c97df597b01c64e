//! Images from registries speaking the OCI distribution API (Docker registry API v2), the way
//! Docker and containerd talk to them:
//!
//! - the manifest is asked for with every manifest type in `Accept`; a manifest list or OCI
//!   index is resolved to the entry for our platform (`linux/amd64` on x86-64), a Docker
//!   schema2 or OCI image manifest names the config and the layers;
//! - every blob is verified against its digest (and size), the uncompressed layer against the
//!   config's diff id; layers already in the store (same diff id) are not downloaded again;
//! - authentication follows the `WWW-Authenticate` challenge of a `401`: `Bearer` asks the
//!   challenge's realm for a token (`?service=..&scope=repository:<name>:pull`, with Basic
//!   credentials when we have some), `Basic` sends the credentials; no challenge, no auth.
//!
//! Registries are spoken to over HTTPS ([`crate::tls`]: the system CAs plus the registry's
//! directory of `--registry-certs-dir`, client certificates for mutual TLS). Plain HTTP is
//! only for insecure registries, Docker's rule ([`transports`]): loopback ones (`localhost`,
//! `127.0.0.0/8`, `::1`) and those given with `--insecure-registry`; those are tried over
//! HTTPS without verifying the certificate first, then over plain HTTP when the first request
//! finds nothing listening or a server that does not speak TLS.
//!
//! Failures to reach a registry ([`RegistryError::Unreachable`]) are kept apart from TLS
//! failures ([`RegistryError::Tls`], [`RegistryError::PlainHttp`]): the CRI server falls back
//! to an image already in the store only for the first (an offline node keeps its images), while
//! an untrusted certificate or a plain-HTTP server where HTTPS was expected is a configuration
//! error the user must see, never hidden behind a stale local image.
//!
//! [`push_archive`] is the other direction (blob upload `POST` + `PUT`, manifest `PUT`), for
//! tests and for people who build images offline; it uses the same connections and trust.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::error::{IoContext, RuntimeError};
use crate::image::{config_diff_ids, sha256_bytes, ImageRecord, ImageStore};
use crate::reference::{is_digest, Reference};
use crate::tls::{self, RegistryTls, TlsFailure};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// How long opening a connection may take (TCP connect, then again the TLS handshake).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a registry may take to answer a request (until the response headers).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a response body may stall between two chunks.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_MANIFEST_BYTES: usize = 4 << 20;
const MAX_CONFIG_BYTES: usize = 8 << 20;
const MAX_REDIRECTS: usize = 5;
const USER_AGENT: &str = concat!("tinykube-runtime/", env!("CARGO_PKG_VERSION"));
/// Where per-registry CAs and client certificates live unless `--registry-certs-dir` says.
pub const DEFAULT_CERTS_DIR: &str = "/etc/tinykube/certs.d";

/// Why talking to a registry failed; [`crate::server`] maps these to gRPC codes.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference} not found in registry {registry}: {detail}")]
    NotFound {
        registry: String,
        reference: String,
        detail: String,
    },
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable { registry: String, reason: String },
    /// The TLS handshake or session failed (untrusted certificate, client certificate
    /// refused), or the registry's certs directory is unusable.
    #[error("registry {registry}: {reason}")]
    Tls { registry: String, reason: String },
    /// A registry we must speak HTTPS to answered in plain HTTP.
    #[error("registry {registry}: {addr} answered in plain HTTP, not TLS; plain HTTP is only spoken to loopback registries and those given with --insecure-registry")]
    PlainHttp { registry: String, addr: String },
    #[error("registry {registry} denied access to {repository}: {detail}")]
    Unauthorized {
        registry: String,
        repository: String,
        detail: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("registry {registry}: {reason}")]
    Protocol { registry: String, reason: String },
    #[error(transparent)]
    Store(#[from] RuntimeError),
}

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// What we log in with, from CRI's `AuthConfig` (or the CLI).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// A bearer token for the registry itself, sent as is.
    pub registry_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from CRI's `AuthConfig`: username/password, `auth` (base64 `user:pass`) or
    /// a registry token. `None` when it holds none.
    pub fn from_cri(
        username: &str,
        password: &str,
        auth: &str,
        registry_token: &str,
    ) -> Option<Credentials> {
        use base64::Engine;
        let (mut user, mut pass) = (username.to_string(), password.to_string());
        if user.is_empty() && !auth.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            if let Some((u, p)) = decoded.split_once(':') {
                (user, pass) = (u.to_string(), p.to_string());
            }
        }
        (!user.is_empty() || !registry_token.is_empty()).then(|| Credentials {
            username: user,
            password: pass,
            registry_token: registry_token.to_string(),
        })
    }

    fn basic(&self) -> String {
        use base64::Engine;
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// How the runtime reaches registries: the daemon's (and `push`'s) `--registry-certs-dir` and
/// `--insecure-registry` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `<dir>/<host[:port]>/`: `*.crt` CA roots and a `<name>.cert` + `<name>.key` client
    /// certificate per registry ([`crate::tls`]).
    pub certs_dir: PathBuf,
    /// Registries spoken to without verifying their certificate, or in plain HTTP.
    pub insecure: Vec<InsecureRegistry>,
}

impl Default for RegistryConfig {
    fn default() -> RegistryConfig {
        RegistryConfig {
            certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
            insecure: Vec::new(),
        }
    }
}

/// One `--insecure-registry` value, as Docker's `insecure-registries` takes them: a registry
/// name `host[:port]` (matched exactly), or a CIDR matched against registries named by an IP
/// address (unlike Docker, host names are not resolved for this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsecureRegistry {
    Host(String),
    Network { addr: IpAddr, prefix_len: u8 },
}

impl std::str::FromStr for InsecureRegistry {
    type Err = String;

    fn from_str(s: &str) -> Result<InsecureRegistry, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an insecure registry needs a host[:port] or a CIDR".into());
        }
        if s.contains("://") {
            return Err(format!(
                "insecure registry {s:?}: give host[:port] or a CIDR, without a scheme"
            ));
        }
        let Some((addr, len)) = s.split_once('/') else {
            return Ok(InsecureRegistry::Host(s.to_ascii_lowercase()));
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|e| format!("insecure registry {s:?}: bad CIDR address: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = len
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| {
                format!("insecure registry {s:?}: the prefix length must be 0 to {max}")
            })?;
        Ok(InsecureRegistry::Network { addr, prefix_len })
    }
}

impl std::fmt::Display for InsecureRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InsecureRegistry::Host(h) => f.write_str(h),
            InsecureRegistry::Network { addr, prefix_len } => write!(f, "{addr}/{prefix_len}"),
        }
    }
}

impl InsecureRegistry {
    fn matches(&self, registry: &str) -> bool {
        match self {
            InsecureRegistry::Host(h) => h.eq_ignore_ascii_case(registry),
            InsecureRegistry::Network { addr, prefix_len } => {
                let Ok(ip) = bare_host(registry).parse::<IpAddr>() else {
                    return false;
                };
                match (addr, ip) {
                    (IpAddr::V4(net), IpAddr::V4(ip)) => {
                        let mask = u32::MAX.checked_shl(32 - u32::from(*prefix_len));
                        let mask = mask.unwrap_or(0);
                        u32::from(*net) & mask == u32::from(ip) & mask
                    }
                    (IpAddr::V6(net), IpAddr::V6(ip)) => {
                        let mask = u128::MAX.checked_shl(128 - u32::from(*prefix_len));
                        let mask = mask.unwrap_or(0);
                        u128::from(*net) & mask == u128::from(ip) & mask
                    }
                    _ => false,
                }
            }
        }
    }
}

/// One way of speaking to a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TLS, verifying the certificate against the system CAs and the registry's certs dir.
    Https,
    /// TLS accepting any certificate (insecure registries).
    HttpsUnverified,
    /// Plain HTTP (insecure registries).
    Http,
}

impl Transport {
    fn scheme(self) -> &'static str {
        match self {
            Transport::Https | Transport::HttpsUnverified => "https",
            Transport::Http => "http",
        }
    }
}

/// The transports to try for a registry (its name in image references), in order, as Docker
/// picks them: a secure registry gets verified HTTPS only; an insecure one (loopback:
/// `localhost`, `127.0.0.0/8`, `::1`, Docker's default insecure ranges, or listed in
/// `insecure`) gets HTTPS without verification, then plain HTTP. Docker Hub is always secure.
pub fn transports(registry: &str, insecure: &[InsecureRegistry]) -> &'static [Transport] {
    const SECURE: &[Transport] = &[Transport::Https];
    const INSECURE: &[Transport] = &[Transport::HttpsUnverified, Transport::Http];
    if registry == "docker.io" {
        return SECURE;
    }
    let host = bare_host(registry);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback || insecure.iter().any(|i| i.matches(registry)) {
        INSECURE
    } else {
        SECURE
    }
}

/// The `host[:port]` we dial for a registry name: `docker.io` is served by
/// `registry-1.docker.io`.
pub fn dial_authority(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// The host of `host[:port]`, without the brackets of an IPv6 address.
fn bare_host(authority: &str) -> &str {
    host_of(authority)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

fn host_of(authority: &str) -> &str {
    match authority.find(']') {
        Some(end) if authority.starts_with('[') => &authority[..=end],
        _ => authority.split(':').next().unwrap_or(authority),
    }
}

/// An authentication challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

/// Parses the first challenge of a `WWW-Authenticate` header (`Bearer realm="..",service=".."`,
/// quoted values may hold commas and `\"`). `None` for schemes we cannot answer.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = std::collections::HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_string();
        }
        params.insert(key, value);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(Challenge::Bearer {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        }),
        "basic" => Some(Challenge::Basic),
        _ => None,
    }
}

/// The token request for a Bearer challenge: the realm with `service` and every `scope`.
pub fn token_url(realm: &str, service: Option<&str>, scopes: &[String]) -> String {
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    let mut add = |k: &str, v: &str| {
        url.push(sep);
        sep = '&';
        url.push_str(k);
        url.push('=');
        url.push_str(&percent_encode(v));
    };
    if let Some(s) = service {
        add("service", s);
    }
    for s in scopes {
        add("scope", s);
    }
    url
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A `Location` header resolved against the URL it answered.
pub fn resolve_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(l) = location.strip_prefix("//") {
        return format!("{scheme}://{l}");
    }
    let authority = rest.split('/').next().unwrap_or(rest);
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = rest.split('?').next().unwrap_or(rest);
    let dir = path.rfind('/').map_or(authority, |i| &path[..i]);
    format!("{scheme}://{dir}/{location}")
}

/// A content descriptor of a manifest or index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An OS/architecture pair as indexes state it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The platform of this machine in OCI terms (`linux/amd64` on x86-64).
pub fn default_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        other => (other, None),
    };
    Platform {
        architecture: architecture.into(),
        os: "linux".into(),
        variant: variant.map(Into::into),
    }
}

/// The index entry to run on `want`, as containerd's platform matcher picks it: same OS and
/// architecture; among those, a matching variant first (arm64 treats no variant as `v8`).
pub fn select_manifest<'a>(manifests: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    let norm = |p: &Platform| -> Option<String> {
        match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".into()),
            (_, v) => v.map(str::to_string),
        }
    };
    let candidates: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
        })
        .collect();
    let want_variant = norm(want);
    candidates
        .iter()
        .find(|d| d.platform.as_ref().map(norm) == Some(want_variant.clone()))
        .or_else(|| candidates.first())
        .copied()
}

/// What a manifest response holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestKind {
    /// A manifest list or OCI index: one entry per platform.
    Index,
    /// A Docker schema2 or OCI image manifest.
    Image,
    /// Docker schema1, long deprecated: refused, as current Docker does.
    Schema1,
    Unknown(String),
}

/// Classifies a manifest by its `Content-Type`, else its `mediaType` field, else its shape.
pub fn manifest_kind(content_type: &str, body: &Value) -> ManifestKind {
    let classify = |mt: &str| match mt {
        DOCKER_MANIFEST_LIST | OCI_INDEX => Some(ManifestKind::Index),
        DOCKER_MANIFEST | OCI_MANIFEST => Some(ManifestKind::Image),
        mt if DOCKER_SCHEMA1.contains(&mt) => Some(ManifestKind::Schema1),
        _ => None,
    };
    let header = content_type.split(';').next().unwrap_or("").trim();
    if let Some(k) = classify(header) {
        return k;
    }
    let field = body["mediaType"].as_str().unwrap_or("");
    if let Some(k) = classify(field) {
        return k;
    }
    if body["manifests"].is_array() {
        ManifestKind::Index
    } else if body["config"].is_object() && body["layers"].is_array() {
        ManifestKind::Image
    } else if body["schemaVersion"] == 1 {
        ManifestKind::Schema1
    } else {
        ManifestKind::Unknown(if field.is_empty() { header } else { field }.to_string())
    }
}

/// Whether we can unpack a layer of this media type (tar, gzip tar; not zstd).
pub fn layer_supported(media_type: &str) -> bool {
    !media_type.contains("zstd") && !media_type.contains("encrypted")
}

/// The manifest format [`push_archive`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// Docker image manifest v2 schema 2 (and manifest lists).
    Docker,
    /// OCI image manifest (and OCI indexes).
    Oci,
}

/// An image manifest for a config and gzip layers; returns media type and body.
pub fn image_manifest(
    format: ManifestFormat,
    config: &Descriptor,
    layers: &[Descriptor],
) -> (&'static str, Vec<u8>) {
    let (mt, config_mt, layer_mt) = match format {
        ManifestFormat::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP),
        ManifestFormat::Oci => (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP),
    };
    let desc =
        |mt: &str, d: &Descriptor| json!({"mediaType": mt, "size": d.size, "digest": d.digest});
    let body = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": desc(config_mt, config),
        "layers": layers.iter().map(|l| desc(layer_mt, l)).collect::<Vec<_>>(),
    });
    (mt, serde_json::to_vec_pretty(&body).unwrap_or_default())
}

/// A manifest list / OCI index over image manifests (each with its platform).
pub fn index_manifest(format: ManifestFormat, manifests: &[Descriptor]) -> (&'static str, Vec<u8>) {
    let mt = match format {
        ManifestFormat::Docker => DOCKER_MANIFEST_LIST,
        ManifestFormat::Oci => OCI_INDEX,
    };
    let body = json!({"schemaVersion": 2, "mediaType": mt, "manifests": manifests});
    (mt, serde_json::to_vec_pretty(&body).unwrap_or_default())
}

/// The `errors[].code: message` of a registry error body, or the body's start.
pub fn error_detail(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let errors: Vec<String> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}: {}",
                e["code"].as_str().unwrap_or("UNKNOWN"),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    if errors.is_empty() {
        String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string()
    } else {
        errors.join("; ")
    }
}

/// One repository on one registry, with the authorization won so far and the transport that
/// worked.
struct Client {
    registry: String,
    /// The `host[:port]` we dial.
    authority: String,
    repository: String,
    /// `pull` or `pull,push`: the scope asked for in token requests.
    actions: &'static str,
    credentials: Option<Credentials>,
    authorization: Option<String>,
    /// The transports still to try, the one in use first.
    transports: &'static [Transport],
    /// Set by the registry's first answer: from then on the transport is fixed.
    transport_confirmed: bool,
    /// Whether the registry's own certificate goes unverified (insecure registries).
    insecure: bool,
    tls: RegistryTls,
}

impl Client {
    fn new(
        config: &RegistryConfig,
        reference: &Reference,
        actions: &'static str,
        credentials: Option<Credentials>,
    ) -> Result<Client> {
        let authorization = credentials
            .as_ref()
            .filter(|c| !c.registry_token.is_empty())
            .map(|c| format!("Bearer {}", c.registry_token));
        let registry = reference.registry.clone();
        let dir = tls::registry_dir(&config.certs_dir, &registry);
        let tls = blocking(|| tls::registry_tls(&dir)).map_err(|reason| RegistryError::Tls {
            registry: registry.clone(),
            reason,
        })?;
        let transports = transports(&registry, &config.insecure);
        Ok(Client {
            authority: dial_authority(&registry).to_string(),
            insecure: transports.contains(&Transport::HttpsUnverified),
            transports,
            registry,
            repository: reference.repository.clone(),
            actions,
            credentials,
            authorization,
            transport_confirmed: false,
            tls,
        })
    }

    fn transport(&self) -> Transport {
        self.transports.first().copied().unwrap_or(Transport::Https)
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}://{}/v2/{}/{path}",
            self.transport().scheme(),
            self.authority,
            self.repository
        )
    }

    fn protocol(&self, reason: impl Into<String>) -> RegistryError {
        RegistryError::Protocol {
            registry: self.registry.clone(),
            reason: reason.into(),
        }
    }

    /// One request through [`http_request`]: the registry's own host is verified unless the
    /// registry is insecure; other hosts (token servers, blob storage that downloads are
    /// redirected to) are always verified, with the registry's trust, as Docker does.
    async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, &str)],
        body: Bytes,
        authorization: Option<&str>,
    ) -> Result<http::Response<Incoming>> {
        let verify = !self.insecure || authority_of(url) != self.authority;
        let dial = Dial {
            registry: &self.registry,
            tls: &self.tls,
            verify,
        };
        http_request(&dial, method, url, headers, body, authorization).await
    }

    /// Sends a request, answering one `401` challenge and following redirects (credentials
    /// only go to the registry's own host). The registry's first request moves on to the next
    /// transport when nothing listens or the server does not speak TLS (Docker's fallback
    /// from HTTPS to HTTP for insecure registries).
    async fn send(
        &mut self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, &str)],
        body: Bytes,
    ) -> Result<http::Response<Incoming>> {
        let mut url = url.to_string();
        let mut challenged = false;
        let mut redirects = 0;
        loop {
            let own_host = authority_of(&url) == self.authority;
            let auth = if own_host {
                self.authorization.clone()
            } else {
                None
            };
            let sent = self
                .request(method.clone(), &url, headers, body.clone(), auth.as_deref())
                .await;
            let resp = match sent {
                Ok(resp) => resp,
                Err(e)
                    if own_host
                        && !self.transport_confirmed
                        && falls_back(&e)
                        && self.transports.len() > 1 =>
                {
                    self.transports = &self.transports[1..];
                    let scheme = self.transport().scheme();
                    tracing::debug!(registry = %self.registry, "{e}; trying {scheme}");
                    let path = url.split_once("://").map_or(url.as_str(), |(_, p)| p);
                    url = format!("{scheme}://{path}");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if own_host {
                self.transport_confirmed = true;
            }
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && own_host && !challenged {
                challenged = true;
                let header = resp
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                self.authorize(&header).await?;
                continue;
            }
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(
                        self.protocol(format!("more than {MAX_REDIRECTS} redirects for {url}"))
                    );
                }
                let location = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| self.protocol(format!("{status} without Location")))?;
                url = resolve_location(&url, location);
                continue;
            }
            return Ok(resp);
        }
    }

    /// Answers a challenge: fetches a Bearer token, or uses Basic credentials.
    async fn authorize(&mut self, header: &str) -> Result<()> {
        let denied = |detail: String| RegistryError::Unauthorized {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            detail,
        };
        match parse_challenge(header) {
            Some(Challenge::Basic) => {
                let c = self
                    .credentials
                    .as_ref()
                    .filter(|c| !c.username.is_empty())
                    .ok_or_else(|| {
                        denied("Basic authentication required, no credentials given".into())
                    })?;
                self.authorization = Some(c.basic());
                Ok(())
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let own = format!("repository:{}:{}", self.repository, self.actions);
                let mut scopes = vec![own.clone()];
                scopes.extend(scope.filter(|s| *s != own));
                let url = token_url(&realm, service.as_deref(), &scopes);
                let basic = self
                    .credentials
                    .as_ref()
                    .filter(|c| !c.username.is_empty())
                    .map(Credentials::basic);
                let resp = self
                    .request(Method::GET, &url, &[], Bytes::new(), basic.as_deref())
                    .await?;
                let status = resp.status();
                let body = read_body(&self.registry, resp, MAX_MANIFEST_BYTES).await?;
                if !status.is_success() {
                    return Err(denied(format!(
                        "token server {realm} answered {status}: {}",
                        error_detail(&body)
                    )));
                }
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let token = v["token"]
                    .as_str()
                    .or_else(|| v["access_token"].as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| denied(format!("token server {realm} returned no token")))?;
                self.authorization = Some(format!("Bearer {token}"));
                Ok(())
            }
            None => Err(denied(format!("401 with an unusable challenge {header:?}"))),
        }
    }

    /// The error for a non-success answer about `what`.
    async fn failure(&self, what: &str, resp: http::Response<Incoming>) -> RegistryError {
        let status = resp.status();
        let body = read_body(&self.registry, resp, 64 << 10)
            .await
            .unwrap_or_default();
        let detail = error_detail(&body);
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                registry: self.registry.clone(),
                reference: what.to_string(),
                detail: if detail.is_empty() {
                    "404 Not Found".into()
                } else {
                    detail
                },
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RegistryError::Unauthorized {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                detail: format!("{status}: {detail}"),
            },
            _ => self.protocol(format!("{what}: unexpected {status}: {detail}")),
        }
    }

    /// Fetches a manifest by tag or digest: body, content type and digest (checked against
    /// the digest asked for, else against `Docker-Content-Digest`).
    async fn manifest(&mut self, name: &str, target: &str) -> Result<(Bytes, String, String)> {
        let accept = [
            OCI_INDEX,
            DOCKER_MANIFEST_LIST,
            OCI_MANIFEST,
            DOCKER_MANIFEST,
        ]
        .join(", ");
        let resp = self
            .send(
                Method::GET,
                &self.url(&format!("manifests/{target}")),
                &[(header::ACCEPT, accept.as_str())],
                Bytes::new(),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.failure(&format!("{name}:{target}"), resp).await);
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let claimed = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_body(&self.registry, resp, MAX_MANIFEST_BYTES).await?;
        let digest = sha256_bytes(&body);
        let expected = if is_digest(target) {
            Some(target.to_string())
        } else {
            claimed.filter(|c| c.starts_with("sha256:"))
        };
        if let Some(e) = expected {
            if e != digest {
                return Err(self.protocol(format!(
                    "manifest {name}:{target} hashes to {digest}, expected {e}"
                )));
            }
        }
        Ok((body, content_type, digest))
    }

    /// Starts a blob's download: the response, once the registry answered it with success.
    async fn get_blob(&mut self, d: &Descriptor) -> Result<http::Response<Incoming>> {
        let resp = self
            .send(
                Method::GET,
                &self.url(&format!("blobs/{}", d.digest)),
                &[],
                Bytes::new(),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.failure(&format!("blob {}", d.digest), resp).await);
        }
        Ok(resp)
    }

    /// Fetches a small blob (a config) into memory, verified.
    async fn small_blob(&mut self, d: &Descriptor) -> Result<Bytes> {
        let resp = self.get_blob(d).await?;
        let body = read_body(&self.registry, resp, MAX_CONFIG_BYTES).await?;
        let got = sha256_bytes(&body);
        if got != d.digest {
            return Err(self.protocol(format!("blob hashes to {got}, expected {}", d.digest)));
        }
        Ok(body)
    }

    /// Streams a blob into `dest`, verifying digest and size.
    async fn blob_to_file(&mut self, d: &Descriptor, dest: &Path) -> Result<()> {
        let resp = self.get_blob(d).await?;
        let mut file = tokio::fs::File::create(dest).await.ctx("create", dest)?;
        let mut hasher = Sha256::new();
        let mut size: i64 = 0;
        let mut body = resp.into_body();
        loop {
            let frame = tokio::time::timeout(READ_TIMEOUT, body.frame())
                .await
                .map_err(|_| {
                    self.protocol(format!("blob {} stalled for {READ_TIMEOUT:?}", d.digest))
                })?;
            let Some(frame) = frame else { break };
            let frame =
                frame.map_err(|e| self.protocol(format!("reading blob {}: {e}", d.digest)))?;
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                size += data.len() as i64;
                file.write_all(&data).await.ctx("write", dest)?;
            }
        }
        file.flush().await.ctx("write", dest)?;
        let got = format!("sha256:{:x}", hasher.finalize());
        if got != d.digest {
            return Err(self.protocol(format!("blob hashes to {got}, expected {}", d.digest)));
        }
        if d.size > 0 && size != d.size {
            return Err(self.protocol(format!(
                "blob {} is {size} bytes, the manifest says {}",
                d.digest, d.size
            )));
        }
        Ok(())
    }

    async fn blob_exists(&mut self, digest: &str) -> Result<bool> {
        let resp = self
            .send(
                Method::HEAD,
                &self.url(&format!("blobs/{digest}")),
                &[],
                Bytes::new(),
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.failure(&format!("blob {digest}"), resp).await),
        }
    }

    /// Monolithic upload: `POST` opens an upload session, one `PUT ?digest=` completes it.
    async fn upload_blob(&mut self, digest: &str, data: Bytes) -> Result<()> {
        if self.blob_exists(digest).await? {
            return Ok(());
        }
        let start = self.url("blobs/uploads/");
        let resp = self.send(Method::POST, &start, &[], Bytes::new()).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.failure("blob upload", resp).await);
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.protocol("upload answered without Location"))?;
        let mut url = resolve_location(&start, location);
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("digest=");
        url.push_str(&percent_encode(digest));
        let resp = self
            .send(
                Method::PUT,
                &url,
                &[(header::CONTENT_TYPE, "application/octet-stream")],
                data,
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.failure(&format!("blob upload {digest}"), resp).await);
        }
        Ok(())
    }

    async fn put_manifest(&mut self, target: &str, media_type: &str, body: Vec<u8>) -> Result<()> {
        let resp = self
            .send(
                Method::PUT,
                &self.url(&format!("manifests/{target}")),
                &[(header::CONTENT_TYPE, media_type)],
                Bytes::from(body),
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.failure(&format!("manifest {target}"), resp).await);
        }
        Ok(())
    }
}

fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// Whether a failed first request to a registry moves on to its next transport: nothing
/// listened, or the server did not speak TLS. A TLS server we do not trust, or that refuses our
/// client certificate, is an answer: trying plain HTTP on it would only hide the reason.
fn falls_back(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::Unreachable { .. } | RegistryError::PlainHttp { .. }
    )
}

/// What [`http_request`] needs to open a connection for a registry.
struct Dial<'a> {
    /// The registry the request is for, named in errors.
    registry: &'a str,
    tls: &'a RegistryTls,
    /// Verify the server's certificate (HTTPS only).
    verify: bool,
}

impl Dial<'_> {
    fn unreachable(&self, reason: String) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.registry.to_string(),
            reason,
        }
    }

    /// The error for a failed TLS exchange with `addr` (`what`: "handshake" or "session"),
    /// with what the user can do about it.
    fn tls_failure(&self, addr: &str, what: &str, e: &rustls::Error) -> RegistryError {
        let dir = self.tls.dir.display();
        let reason = match tls::classify(e) {
            TlsFailure::NotTls => {
                return RegistryError::PlainHttp {
                    registry: self.registry.to_string(),
                    addr: addr.to_string(),
                }
            }
            TlsFailure::Untrusted(detail) => format!(
                "TLS {what} with {addr} failed: {detail} (to trust the registry's CA, put it in {dir}/ca.crt)"
            ),
            TlsFailure::ClientCertificate(detail) => format!(
                "TLS {what} with {addr} failed: {detail} (the registry wants a client certificate it trusts: {dir}/client.cert and client.key)"
            ),
            TlsFailure::Other(detail) => format!("TLS {what} with {addr} failed: {detail}"),
        };
        RegistryError::Tls {
            registry: self.registry.to_string(),
            reason,
        }
    }
}

/// One HTTP/1.1 request on a fresh connection: plain TCP for `http://` URLs, TLS for
/// `https://` ones; both directions (pull and push) and every host (registry, token server,
/// redirect targets) go through here.
async fn http_request(
    dial: &Dial<'_>,
    method: Method,
    url: &str,
    headers: &[(HeaderName, &str)],
    body: Bytes,
    authorization: Option<&str>,
) -> Result<http::Response<Incoming>> {
    let protocol = |reason: String| RegistryError::Protocol {
        registry: dial.registry.to_string(),
        reason,
    };
    let uri: Uri = url
        .parse()
        .map_err(|e| protocol(format!("bad URL {url:?}: {e}")))?;
    let authority = uri
        .authority()
        .ok_or_else(|| protocol(format!("URL {url:?} has no host")))?
        .clone();
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(protocol(format!(
                "URL {url:?}: only http and https are spoken"
            )))
        }
    };
    let addr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(if https { 443 } else { 80 })
    );
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| {
            dial.unreachable(format!(
                "connect to {addr} timed out after {CONNECT_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| dial.unreachable(format!("connect to {addr}: {e}")))?;
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(header::HOST, authority.as_str())
        .header(header::USER_AGENT, USER_AGENT);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| protocol(format!("building request for {url}: {e}")))?;
    if !https {
        return exchange(dial, stream, &addr, url, req).await;
    }
    let config = if dial.verify {
        &dial.tls.verified
    } else {
        &dial.tls.unverified
    };
    let name = tls::server_name(authority.host()).map_err(protocol)?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream))
        .await
        .map_err(|_| {
            dial.unreachable(format!(
                "TLS handshake with {addr} timed out after {CONNECT_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| match tls::find_tls_error(&e) {
            Some(tls_error) => dial.tls_failure(&addr, "handshake", tls_error),
            None => RegistryError::Tls {
                registry: dial.registry.to_string(),
                reason: format!("TLS handshake with {addr} failed: {e}"),
            },
        })?;
    exchange(dial, stream, &addr, url, req).await
}

/// Sends `req` over an open connection and waits for the response headers.
async fn exchange<S>(
    dial: &Dial<'_>,
    stream: S,
    addr: &str,
    url: &str,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<Incoming>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // With TLS 1.3 a server's verdict on our client certificate arrives after the handshake,
    // as an alert on the first read: it is reported like a handshake failure.
    let failed = |e: hyper::Error| match tls::find_tls_error(&e) {
        Some(tls_error) => dial.tls_failure(addr, "session", tls_error),
        None => dial.unreachable(format!("{url}: {e}")),
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(failed)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| {
            dial.unreachable(format!("no answer from {addr} within {RESPONSE_TIMEOUT:?}"))
        })?
        .map_err(failed)
}

async fn read_body(registry: &str, resp: http::Response<Incoming>, limit: usize) -> Result<Bytes> {
    let protocol = |reason: String| RegistryError::Protocol {
        registry: registry.to_string(),
        reason,
    };
    let collected = tokio::time::timeout(
        READ_TIMEOUT,
        Limited::new(resp.into_body(), limit).collect(),
    )
    .await
    .map_err(|_| protocol(format!("response body stalled for {READ_TIMEOUT:?}")))?
    .map_err(|e| protocol(format!("reading response (limit {limit} bytes): {e}")))?;
    Ok(collected.to_bytes())
}

/// Runs blocking store work (unpacking) without stalling the async workers.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[derive(Deserialize)]
struct ImageManifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct IndexManifest {
    manifests: Vec<Descriptor>,
}

/// Pulls `reference` for `platform` into `store`: resolves the tag (or digest), picks the
/// platform's manifest from an index, downloads the config and the layers not in the store
/// yet, verifying every digest, and records the image with its tag and repo digest.
pub async fn pull(
    store: &ImageStore,
    config: &RegistryConfig,
    reference: &Reference,
    platform: &Platform,
    credentials: Option<Credentials>,
) -> Result<ImageRecord> {
    let mut client = Client::new(config, reference, "pull", credentials)?;
    let name = reference.name();
    let target = reference
        .digest
        .clone()
        .or_else(|| reference.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let (body, content_type, top_digest) = client.manifest(&name, &target).await?;
    let parse = |body: &[u8]| -> Value { serde_json::from_slice(body).unwrap_or(Value::Null) };
    let mut manifest = parse(&body);
    let mut kind = manifest_kind(&content_type, &manifest);
    if kind == ManifestKind::Index {
        let index: IndexManifest = serde_json::from_value(manifest)
            .map_err(|e| client.protocol(format!("index {name}:{target}: {e}")))?;
        let chosen = select_manifest(&index.manifests, platform).ok_or_else(|| {
            let offered: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| format!("{}/{}", p.os, p.architecture))
                .collect();
            RegistryError::NotFound {
                registry: reference.registry.clone(),
                reference: reference.full(),
                detail: format!(
                    "no manifest for {}/{} (the index offers {})",
                    platform.os,
                    platform.architecture,
                    offered.join(", ")
                ),
            }
        })?;
        let (child, child_type, _) = client.manifest(&name, &chosen.digest).await?;
        manifest = parse(&child);
        kind = manifest_kind(
            if child_type.is_empty() {
                &chosen.media_type
            } else {
                &child_type
            },
            &manifest,
        );
    }
    match kind {
        ManifestKind::Image => {}
        ManifestKind::Index => {
            return Err(client.protocol(format!("{name}:{target}: an index inside an index")))
        }
        ManifestKind::Schema1 => {
            return Err(RegistryError::Unsupported(format!(
                "{}: Docker schema1 manifests are not supported (as in current Docker); push the image again with a current client",
                reference.full()
            )))
        }
        ManifestKind::Unknown(mt) => {
            return Err(client.protocol(format!("{name}:{target}: unknown manifest type {mt:?}")))
        }
    }
    let manifest: ImageManifest = serde_json::from_value(manifest)
        .map_err(|e| client.protocol(format!("manifest {name}:{target}: {e}")))?;
    for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if !is_digest(&d.digest) {
            return Err(client.protocol(format!("unsupported digest {:?}", d.digest)));
        }
    }
    if let Some(l) = manifest
        .layers
        .iter()
        .find(|l| !layer_supported(&l.media_type))
    {
        return Err(RegistryError::Unsupported(format!(
            "{}: layer {} has media type {}, which tinykube-runtime cannot unpack (tar and gzip only)",
            reference.full(),
            l.digest,
            l.media_type
        )));
    }
    let config = client.small_blob(&manifest.config).await?;
    let diff_ids = config_diff_ids(&config)?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(client.protocol(format!(
            "{name}:{target}: the manifest has {} layers, its config {}",
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    for (layer, diff_id) in manifest.layers.iter().zip(&diff_ids) {
        // The store keys layers by diff id: one already unpacked (from any image) is reused.
        if store.layer_dir(diff_id).is_dir() {
            continue;
        }
        let tmp = store
            .tmp_dir()
            .join(format!("pull-{}", uuid::Uuid::new_v4().simple()));
        let fetched = client.blob_to_file(layer, &tmp).await;
        let unpacked = match fetched {
            Ok(()) => blocking(|| {
                let f = std::fs::File::open(&tmp).ctx("open layer", &tmp)?;
                store.unpack_layer(f, diff_id)
            })
            .map_err(RegistryError::from),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&tmp);
        unpacked?;
    }
    store.store_config(&config)?;
    let tags: Vec<String> = reference
        .tag
        .as_ref()
        .filter(|_| reference.digest.is_none())
        .map(|_| reference.full())
        .into_iter()
        .collect();
    let repo_digest = format!("{name}@{top_digest}");
    Ok(store.add_image(&config, &tags, &[repo_digest])?)
}

/// What [`push_archive`] pushed: the digest and size of the manifest the tag now names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub digest: String,
    pub size: usize,
}

/// Pushes the one image of a docker-save / OCI-layout archive to `reference` (which needs a
/// tag): gzip layers, config, then the manifest in `format`, wrapped in a one-platform manifest
/// list / OCI index when `index` is set.
pub async fn push_archive(
    store: &ImageStore,
    config: &RegistryConfig,
    archive: &Path,
    reference: &Reference,
    format: ManifestFormat,
    index: bool,
    credentials: Option<Credentials>,
) -> Result<Pushed> {
    let Some(tag) = reference.tag.clone().filter(|_| reference.digest.is_none()) else {
        return Err(RegistryError::Unsupported(format!(
            "push {}: the reference needs a tag, not a digest",
            reference.full()
        )));
    };
    let extracted = blocking(|| store.extract_archive(archive))?;
    let image = match extracted.images.as_slice() {
        [one] => one.clone(),
        images => {
            return Err(RegistryError::Unsupported(format!(
                "archive {} holds {} images; push takes exactly one",
                archive.display(),
                images.len()
            )))
        }
    };
    let mut client = Client::new(config, reference, "pull,push", credentials)?;
    let mut layers = Vec::new();
    for path in &image.layers {
        let data = std::fs::read(path).ctx("read layer", path)?;
        let gz = tokio::task::spawn_blocking(move || gzip(data))
            .await
            .map_err(|e| RuntimeError::Failed(format!("compress layer: {e}")))?
            .ctx("compress layer", path)?;
        let desc = Descriptor {
            media_type: String::new(),
            digest: sha256_bytes(&gz),
            size: gz.len() as i64,
            platform: None,
        };
        client.upload_blob(&desc.digest, Bytes::from(gz)).await?;
        layers.push(desc);
    }
    let config = Descriptor {
        media_type: String::new(),
        digest: sha256_bytes(&image.config),
        size: image.config.len() as i64,
        platform: None,
    };
    client
        .upload_blob(&config.digest, Bytes::from(image.config.clone()))
        .await?;
    let (mt, body) = image_manifest(format, &config, &layers);
    let manifest = Descriptor {
        media_type: mt.into(),
        digest: sha256_bytes(&body),
        size: body.len() as i64,
        platform: None,
    };
    if !index {
        client.put_manifest(&tag, mt, body).await?;
        return Ok(Pushed {
            digest: manifest.digest,
            size: manifest.size as usize,
        });
    }
    client.put_manifest(&manifest.digest, mt, body).await?;
    let cfg: Value = serde_json::from_slice(&image.config).unwrap_or(Value::Null);
    let platform = Platform {
        architecture: cfg["architecture"].as_str().unwrap_or("amd64").into(),
        os: cfg["os"].as_str().unwrap_or("linux").into(),
        variant: cfg["variant"].as_str().map(Into::into),
    };
    let (mt, body) = index_manifest(
        format,
        &[Descriptor {
            platform: Some(platform),
            ..manifest
        }],
    );
    let pushed = Pushed {
        digest: sha256_bytes(&body),
        size: body.len(),
    };
    client.put_manifest(&tag, mt, body).await?;
    Ok(pushed)
}

/// The layer gzip-compressed, unless it already is.
fn gzip(data: Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    if data.starts_with(&[0x1f, 0x8b]) {
        return Ok(data);
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&data)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_as_docker_picks_them() {
        use Transport::{Http, Https, HttpsUnverified};
        let insecure: Vec<InsecureRegistry> = [
            "10.0.0.7:5000",
            "Registry.Lan",
            "192.168.0.0/16",
            "fd00::/8",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let secure: &[Transport] = &[Https];
        let insecure_order: &[Transport] = &[HttpsUnverified, Http];
        let cases: &[(&str, &[Transport])] = &[
            ("docker.io", secure),
            ("quay.io", secure),
            ("10.0.0.1:5000", secure),
            ("localhost.example.com", secure),
            // Loopback: Docker's default insecure ranges 127.0.0.0/8 and ::1, and localhost.
            ("127.0.0.1:5000", insecure_order),
            ("127.1.2.3:80", insecure_order),
            ("localhost:5000", insecure_order),
            ("localhost", insecure_order),
            ("[::1]:5000", insecure_order),
            // --insecure-registry: exact names (the port is part of the name), CIDRs for
            // registries named by address.
            ("10.0.0.7:5000", insecure_order),
            ("10.0.0.7:5001", secure),
            ("10.0.0.7", secure),
            ("registry.lan", insecure_order),
            ("192.168.3.4:443", insecure_order),
            ("192.169.0.1", secure),
            ("[fd12::1]:5000", insecure_order),
            ("[fe80::1]:5000", secure),
        ];
        for (registry, want) in cases {
            assert_eq!(transports(registry, &insecure), *want, "{registry}");
        }
        assert_eq!(
            transports("docker.io", &["docker.io".parse().unwrap()]),
            secure
        );
        assert_eq!(dial_authority("docker.io"), "registry-1.docker.io");
        assert_eq!(dial_authority("quay.io"), "quay.io");
    }

    #[test]
    fn insecure_registry_flags_parse() {
        let ok = [
            (
                "10.0.0.1:5000",
                InsecureRegistry::Host("10.0.0.1:5000".into()),
            ),
            (
                "Registry.LAN",
                InsecureRegistry::Host("registry.lan".into()),
            ),
            (
                "10.0.0.0/8",
                InsecureRegistry::Network {
                    addr: "10.0.0.0".parse().unwrap(),
                    prefix_len: 8,
                },
            ),
            (
                "0.0.0.0/0",
                InsecureRegistry::Network {
                    addr: "0.0.0.0".parse().unwrap(),
                    prefix_len: 0,
                },
            ),
        ];
        for (flag, want) in ok {
            assert_eq!(flag.parse::<InsecureRegistry>(), Ok(want.clone()), "{flag}");
            assert_eq!(want.to_string(), flag.to_ascii_lowercase());
        }
        assert!(InsecureRegistry::Network {
            addr: "0.0.0.0".parse().unwrap(),
            prefix_len: 0
        }
        .matches("1.2.3.4:5"));
        for bad in [
            "",
            "http://r:5000",
            "10.0.0.0/33",
            "10.0.0/8",
            "::/129",
            "r/x",
        ] {
            assert!(bad.parse::<InsecureRegistry>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_unreachable_and_plain_http_fall_back() {
        let r = || "r:1".to_string();
        assert!(falls_back(&RegistryError::Unreachable {
            registry: r(),
            reason: "refused".into()
        }));
        assert!(falls_back(&RegistryError::PlainHttp {
            registry: r(),
            addr: "r:1".into()
        }));
        assert!(!falls_back(&RegistryError::Tls {
            registry: r(),
            reason: "invalid peer certificate: UnknownIssuer".into()
        }));
        assert!(!falls_back(&RegistryError::Protocol {
            registry: r(),
            reason: "x".into()
        }));
    }

    #[test]
    fn challenges_parse() {
        let cases: &[(&str, Option<Challenge>)] = &[
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
                Some(Challenge::Bearer {
                    realm: "https://auth.docker.io/token".into(),
                    service: Some("registry.docker.io".into()),
                    scope: Some("repository:library/busybox:pull".into()),
                }),
            ),
            (
                r#"bearer realm="http://127.0.0.1:1/t?a=b", scope="repository:x:pull,push""#,
                Some(Challenge::Bearer {
                    realm: "http://127.0.0.1:1/t?a=b".into(),
                    service: None,
                    scope: Some("repository:x:pull,push".into()),
                }),
            ),
            (
                r#"Bearer realm=http://h/token,service=svc"#,
                Some(Challenge::Bearer {
                    realm: "http://h/token".into(),
                    service: Some("svc".into()),
                    scope: None,
                }),
            ),
            (
                r#"Bearer realm="a\"b""#,
                Some(Challenge::Bearer {
                    realm: "a\"b".into(),
                    service: None,
                    scope: None,
                }),
            ),
            (r#"Basic realm="Registry Realm""#, Some(Challenge::Basic)),
            ("Bearer service=x", None),
            ("Negotiate", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(&parse_challenge(header), want, "{header}");
        }
    }

    #[test]
    fn token_urls_carry_service_and_scopes() {
        assert_eq!(
            token_url(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                &["repository:library/busybox:pull".into()]
            ),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull"
        );
        assert_eq!(
            token_url(
                "http://h/t?x=1",
                None,
                &["repository:a:pull,push".into(), "registry:catalog:*".into()]
            ),
            "http://h/t?x=1&scope=repository%3Aa%3Apull%2Cpush&scope=registry%3Acatalog%3A%2A"
        );
    }

    #[test]
    fn locations_resolve() {
        let base = "http://127.0.0.1:5000/v2/bb/blobs/uploads/";
        let cases = [
            ("http://other:1/x?y=z", "http://other:1/x?y=z"),
            (
                "/v2/bb/blobs/uploads/u1?_state=s",
                "http://127.0.0.1:5000/v2/bb/blobs/uploads/u1?_state=s",
            ),
            ("//cdn/x", "http://cdn/x"),
            ("u2", "http://127.0.0.1:5000/v2/bb/blobs/uploads/u2"),
        ];
        for (loc, want) in cases {
            assert_eq!(resolve_location(base, loc), want, "{loc}");
        }
        assert_eq!(authority_of("http://a:1/b?c"), "a:1");
        assert_eq!(authority_of("http://a:1?c"), "a:1");
    }

    fn desc(os: &str, arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: os.into(),
                variant: variant.map(Into::into),
            }),
        }
    }

    #[test]
    fn platform_selection() {
        let amd64 = Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        };
        let arm64 = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
        };
        let index = vec![
            desc("unknown", "unknown", None, "attestation"),
            desc("linux", "arm", Some("v7"), "arm"),
            desc("windows", "amd64", None, "win"),
            desc("linux", "arm64", None, "arm64"),
            desc("linux", "amd64", None, "amd64"),
        ];
        let pick = |m: &[Descriptor], p: &Platform| select_manifest(m, p).map(|d| d.digest.clone());
        assert_eq!(pick(&index, &amd64).as_deref(), Some("amd64"));
        assert_eq!(pick(&index, &arm64).as_deref(), Some("arm64"));
        let variants = vec![
            desc("linux", "arm64", Some("v9"), "v9"),
            desc("linux", "arm64", Some("v8"), "v8"),
        ];
        assert_eq!(pick(&variants, &arm64).as_deref(), Some("v8"));
        assert_eq!(pick(&index[..3], &amd64), None);
        let no_platform = vec![Descriptor {
            platform: None,
            ..desc("linux", "amd64", None, "x")
        }];
        assert_eq!(pick(&no_platform, &amd64), None);
    }

    #[test]
    fn manifest_kinds() {
        let cases = [
            (DOCKER_MANIFEST_LIST, json!({}), ManifestKind::Index),
            (OCI_INDEX, json!({}), ManifestKind::Index),
            (
                "application/json",
                json!({"mediaType": OCI_MANIFEST}),
                ManifestKind::Image,
            ),
            ("text/plain", json!({"manifests": []}), ManifestKind::Index),
            (
                "",
                json!({"schemaVersion": 2, "config": {}, "layers": []}),
                ManifestKind::Image,
            ),
            (
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                json!({}),
                ManifestKind::Schema1,
            ),
            (
                &format!("{DOCKER_MANIFEST}; charset=utf-8"),
                json!({}),
                ManifestKind::Image,
            ),
            ("x/y", json!({}), ManifestKind::Unknown("x/y".into())),
        ];
        for (ct, body, want) in cases {
            assert_eq!(manifest_kind(ct, &body), want, "{ct} {body}");
        }
        assert!(layer_supported(DOCKER_LAYER_GZIP));
        assert!(layer_supported("application/vnd.oci.image.layer.v1.tar"));
        assert!(layer_supported(""));
        assert!(!layer_supported(
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ));
    }

    #[test]
    fn manifests_built_for_push() {
        let config = Descriptor {
            media_type: String::new(),
            digest: "sha256:c".into(),
            size: 3,
            platform: None,
        };
        let layer = Descriptor {
            digest: "sha256:l".into(),
            size: 9,
            ..config.clone()
        };
        let (mt, body) = image_manifest(
            ManifestFormat::Docker,
            &config,
            std::slice::from_ref(&layer),
        );
        assert_eq!(mt, DOCKER_MANIFEST);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(v["layers"][0]["mediaType"], DOCKER_LAYER_GZIP);
        assert_eq!(v["layers"][0]["size"], 9);
        assert_eq!(manifest_kind("", &v), ManifestKind::Image);
        let (mt, body) = image_manifest(ManifestFormat::Oci, &config, &[layer]);
        assert_eq!(mt, OCI_MANIFEST);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["config"]["mediaType"], OCI_CONFIG);
        let entry = desc("linux", "amd64", None, "sha256:m");
        let (mt, body) = index_manifest(ManifestFormat::Oci, &[entry]);
        assert_eq!(mt, OCI_INDEX);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(manifest_kind("", &v), ManifestKind::Index);
    }

    #[test]
    fn error_bodies_and_credentials() {
        assert_eq!(
            error_detail(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#),
            "MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(error_detail(b"plain text"), "plain text");
        let c = Credentials::from_cri("", "", "dXNlcjpwYTpzcw==", "").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("user", "pa:ss")
        );
        assert_eq!(c.basic(), "Basic dXNlcjpwYTpzcw==");
        assert!(Credentials::from_cri("", "", "", "").is_none());
        assert!(!format!("{c:?}").contains("pa:ss"));
        assert_eq!(
            Credentials::from_cri("", "", "", "tok")
                .unwrap()
                .registry_token,
            "tok"
        );
    }

    #[test]
    fn gzip_leaves_compressed_layers_alone() {
        let plain = b"layer".to_vec();
        let gz = gzip(plain.clone()).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert_eq!(gzip(gz.clone()).unwrap(), gz);
    }
}
