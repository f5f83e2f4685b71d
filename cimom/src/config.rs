//! The HTTP(S) server's settings ([`Config`]): endpoints, TLS files,
//! authentication, limits, indication delivery and the metrics endpoint,
//! validated by [`Config::validate`]. The daemon's flags and TOML file, which
//! also carry the state directory, volume roots and NBD settings, are parsed
//! in `cimomd` and give this part to [`crate::server::Server::bind`].

use crate::Error;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No authentication (loopback only unless `--insecure`).
    None,
    /// HTTP Basic against the users file.
    Basic,
}

/// Certificate and key for the HTTPS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain (leaf first).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Resource limits of the HTTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body; larger gets HTTP 413.
    pub max_request_bytes: usize,
    /// Deepest XML nesting; deeper gets HTTP 400 `request-not-valid`.
    pub max_xml_depth: usize,
    /// Open connections at most (per endpoint); further clients wait in the
    /// kernel's accept queue.
    pub max_connections: usize,
    /// Requests being decoded/dispatched/encoded at once; excess waits.
    pub max_concurrent_requests: usize,
    /// Time limit of one request (decoding, dispatch, encoding).
    pub request_timeout: Duration,
    /// Time a client may take to send request headers (slowloris defence),
    /// also the idle time after which a keep-alive connection is closed.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 64 * 1024 * 1024,
            max_xml_depth: 64,
            max_connections: 1024,
            max_concurrent_requests: 256,
            request_timeout: Duration::from_secs(120),
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Indication delivery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicationConfig {
    /// Bounded queue between providers and the delivery task.
    pub queue_capacity: usize,
    /// Delivery attempts per indication and destination (at least 1).
    pub attempts: u32,
    /// Verify HTTPS listeners' certificates (off: any certificate is accepted,
    /// as WBEM listeners mostly use self-signed ones).
    pub verify_tls: bool,
    /// Time limit of one delivery attempt.
    pub timeout: Duration,
}

impl Default for IndicationConfig {
    fn default() -> Self {
        IndicationConfig {
            queue_capacity: 1024,
            attempts: 3,
            verify_tls: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The validated settings of the CIM-XML server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Plain HTTP endpoint (`None`: off).
    pub listen: Option<SocketAddr>,
    /// HTTPS endpoint (`None`: off).
    pub https_listen: Option<SocketAddr>,
    /// Certificate and key, present whenever `https_listen` is.
    pub tls: Option<TlsFiles>,
    /// Authentication mode.
    pub auth: AuthMode,
    /// The users file (present whenever `auth` is `Basic`).
    pub users_file: Option<PathBuf>,
    /// `--insecure` was given.
    pub insecure: bool,
    /// HTTP server limits.
    pub limits: Limits,
    /// Indication delivery.
    pub indications: IndicationConfig,
    /// Prometheus endpoint (`None`: off).
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Config {
    /// The defaults of interface.md §1 (loopback HTTP, no auth, no HTTPS).
    fn default() -> Self {
        Config {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 5988))),
            https_listen: None,
            tls: None,
            auth: AuthMode::None,
            users_file: None,
            insecure: false,
            limits: Limits::default(),
            indications: IndicationConfig::default(),
            metrics_listen: None,
        }
    }
}

fn config_error(msg: impl Into<String>) -> Error {
    Error::Config(msg.into())
}

/// True for loopback addresses (also IPv4-mapped ones).
pub fn is_loopback(a: &SocketAddr) -> bool {
    match a.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl Config {
    /// Checks the combination of settings (also for configs built in code).
    pub fn validate(&self) -> Result<(), Error> {
        if self.auth == AuthMode::Basic && self.users_file.is_none() {
            return Err(config_error("--auth basic needs --users FILE"));
        }
        if self.auth == AuthMode::None && !self.insecure {
            let endpoints = self.listen.iter().chain(&self.https_listen);
            for addr in endpoints.chain(&self.metrics_listen) {
                if !is_loopback(addr) {
                    return Err(config_error(format!(
                        "refusing --auth none on non-loopback address {addr}: \
                         give --users FILE for basic authentication, or --insecure"
                    )));
                }
            }
        }
        let l = &self.limits;
        if l.max_request_bytes < 1024 {
            return Err(config_error("--max-request-bytes must be at least 1024"));
        }
        if l.max_xml_depth < 8 {
            return Err(config_error("--max-xml-depth must be at least 8"));
        }
        if l.max_connections == 0 || l.max_concurrent_requests == 0 {
            return Err(config_error(
                "--max-connections and --max-concurrent-requests must be at least 1",
            ));
        }
        if l.request_timeout.is_zero() || l.header_read_timeout.is_zero() {
            return Err(config_error(
                "--request-timeout and --header-read-timeout must be at least 1 second",
            ));
        }
        if self.indications.queue_capacity == 0 || self.indications.attempts == 0 {
            return Err(config_error(
                "--indication-queue and --indication-retries must be at least 1",
            ));
        }
        Ok(())
    }

    /// The CIM-XML decoder limits implied by these settings.
    pub fn xml_limits(&self) -> cim::xml::Limits {
        cim::xml::Limits {
            max_depth: self.limits.max_xml_depth,
            max_bytes: self.limits.max_request_bytes,
            ..cim::xml::Limits::default()
        }
    }
}
