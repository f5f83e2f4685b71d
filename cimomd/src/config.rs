//! `cimomd` configuration: command-line flags ([`Args`], clap) and an optional
//! TOML file with the same keys, merged and validated into a [`Config`]: the
//! object manager's server settings ([`cimom::config::Config`]) next to the
//! state directory, volume roots, NBD endpoint, log filter and cache bounds.
//!
//! Precedence: a flag given on the command line wins over the file, the file
//! wins over the built-in defaults (interface.md §1).
//!
//! # The TOML file (`--config FILE`)
//!
//! Keys are the long flag names without the dashes, in kebab-case; every key is
//! optional and unknown keys are refused (a typo must not silently fall back to
//! a default):
//!
//! ```toml
//! listen = "127.0.0.1:5988"        # or "off"
//! https-listen = "0.0.0.0:5989"    # or "off" (the default)
//! tls-cert = "/etc/cimom/cert.pem"
//! tls-key = "/etc/cimom/key.pem"
//! state-dir = "/var/lib/cimom"
//! volume-root = ["/dev/vg0", "/srv/images"]
//! nbd-listen = "127.0.0.1:10809"   # or "unix:/run/cimom/nbd.sock", or "off"
//! nbd-tls = "off"                  # or "on", "require"; more in crate::nbd_settings
//! auth = "basic"                   # or "none"
//! users = "/etc/cimom/users"
//! log = "info"
//! insecure = false
//! max-request-bytes = 67108864
//! max-xml-depth = 64
//! max-connections = 1024
//! max-concurrent-requests = 256
//! request-timeout = 120            # seconds (waits for a copy are exempt)
//! header-read-timeout = 30         # seconds
//! indication-queue = 1024
//! indication-retries = 3
//! indication-verify-tls = false
//! metrics-listen = "127.0.0.1:9560" # or "off" (the default)
//! peers = "/etc/cimomd/peers.toml"  # mirror peers (crate::peers); default none
//! ```
//!
//! A bad file (unknown key, wrong type, a `state-dir` or `volume-root` that
//! exists but is not a directory) is refused with `FILE:LINE: key "KEY": …`
//! ([`crate::config_check`]); `cimomd` exits 2 on it.

use crate::nbd_settings::{parse_nbd_listen, NbdArgs, NbdListen, NbdSettings};
use cimom::config::{AuthMode, IndicationConfig, Limits, TlsFiles};
use cimom::{CacheBounds, Error};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Default plain HTTP endpoint.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5988";
/// `--https-listen` given without a value.
pub const DEFAULT_HTTPS_LISTEN: &str = "127.0.0.1:5989";
/// Default NBD endpoint.
pub const DEFAULT_NBD_LISTEN: &str = "127.0.0.1:10809";
/// Default state directory.
pub const DEFAULT_STATE_DIR: &str = "./var/cimom";

/// Command-line flags of `cimomd`. Derives [`clap::Parser`] (and so
/// [`clap::Args`]): a binary may use it directly or `#[command(flatten)]` it.
/// Every field is optional so that [`Config::from_args`] can tell "not given"
/// from "given with the default value" when merging with `--config`.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "cimomd",
    about = "CIM object manager (CIM-XML over HTTP/HTTPS)"
)]
pub struct Args {
    /// Plain HTTP CIM-XML endpoint, or `off` [default: 127.0.0.1:5988]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// HTTPS endpoint, or `off` [default: off]; alone or without a port: port 5989 (WBEM)
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_HTTPS_LISTEN)]
    pub https_listen: Option<String>,
    /// PEM certificate chain for HTTPS [default: a self-signed one made in <state-dir>/tls]
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Directory for everything persistent [default: ./var/cimom]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Allow-list of volume locations (repeatable) [default: <state-dir>/volumes]
    #[arg(long, value_name = "DIR")]
    pub volume_root: Vec<PathBuf>,
    /// NBD export of the volumes in use: ADDR, `unix:PATH` or `off` [default: 127.0.0.1:10809]
    #[arg(long, value_name = "ADDR")]
    pub nbd_listen: Option<String>,
    /// NBD TLS, client certificates and Unix socket permissions.
    #[command(flatten)]
    pub nbd: NbdArgs,
    /// Authentication: `none` or `basic` [default: basic with --users, else none]
    #[arg(long, value_name = "MODE")]
    pub auth: Option<String>,
    /// Users file: one `name:hash` a line (argon2 PHC or bcrypt hashes)
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Tracing filter (e.g. `info`, `cimom=debug`) [default: info]
    #[arg(long, value_name = "LEVEL")]
    pub log: Option<String>,
    /// Allow `--auth none` on a non-loopback address
    #[arg(long)]
    pub insecure: bool,
    /// TOML file with the same keys as these flags
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Largest accepted request body in bytes (larger: HTTP 413) [default: 67108864]
    #[arg(long, value_name = "BYTES")]
    pub max_request_bytes: Option<usize>,
    /// Deepest accepted XML element nesting [default: 64]
    #[arg(long, value_name = "N")]
    pub max_xml_depth: Option<usize>,
    /// Open connections at most; more wait in the accept queue [default: 1024]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Requests processed at once; more wait for a slot [default: 256]
    #[arg(long, value_name = "N")]
    pub max_concurrent_requests: Option<usize>,
    /// Seconds a request may take before it is answered with a timeout error; a wait for a copy (waitForCompletion) is exempt [default: 120]
    #[arg(long, value_name = "SECS")]
    pub request_timeout: Option<u64>,
    /// Seconds a client may take to send the request headers [default: 30]
    #[arg(long, value_name = "SECS")]
    pub header_read_timeout: Option<u64>,
    /// Indications queued for delivery at most; more are dropped [default: 1024]
    #[arg(long, value_name = "N")]
    pub indication_queue: Option<usize>,
    /// Delivery attempts per indication and listener [default: 3]
    #[arg(long, value_name = "N")]
    pub indication_retries: Option<u32>,
    /// Check HTTPS listeners' certificates against the web PKI roots
    #[arg(long)]
    pub indication_verify_tls: bool,
    /// Prometheus text endpoint (GET /metrics), or `off` [default: off]
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Peers file (TOML): the other hosts mirrors write to (name, CIM URL, NBD address, user, password file, CA) [default: none]
    #[arg(long, value_name = "FILE")]
    pub peers: Option<PathBuf>,
    /// Resolved classes kept in memory at most; others are read from the repository when asked for [default: 128]
    #[arg(long, value_name = "N")]
    pub class_cache: Option<usize>,
    /// Bytes of rendered class answers (GetClass, EnumerateClasses, EnumerateClassNames) kept at most [default: 8388608]
    #[arg(long, value_name = "BYTES")]
    pub class_answer_cache_bytes: Option<usize>,
    /// Bytes of rendered EnumerateInstances answers of stored instances kept at most, and as much again of their renderings for pull operations [default: 8388608]
    #[arg(long, value_name = "BYTES")]
    pub instance_answer_cache_bytes: Option<usize>,
    /// Most glibc malloc arenas (0: glibc's default, 8 per core); fewer arenas keep less freed memory [default: 2]
    #[arg(long, value_name = "N")]
    pub malloc_arenas: Option<usize>,
}

impl Args {
    /// Parses the process's command line (exits with usage on error, as clap does).
    pub fn parse_from_env() -> Args {
        <Args as clap::Parser>::parse()
    }
}

/// The `--config` file: the same keys as [`Args`], kebab-case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct FileConfig {
    listen: Option<String>,
    https_listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    #[serde(default)]
    volume_root: Vec<PathBuf>,
    nbd_listen: Option<String>,
    nbd_tls: Option<String>,
    nbd_tls_cert: Option<PathBuf>,
    nbd_tls_key: Option<PathBuf>,
    nbd_tls_ca: Option<PathBuf>,
    nbd_tls_verify_peer: Option<bool>,
    #[serde(default)]
    nbd_tls_allow: Vec<String>,
    nbd_socket_mode: Option<String>,
    nbd_socket_group: Option<String>,
    auth: Option<String>,
    users: Option<PathBuf>,
    log: Option<String>,
    insecure: Option<bool>,
    max_request_bytes: Option<usize>,
    max_xml_depth: Option<usize>,
    max_connections: Option<usize>,
    max_concurrent_requests: Option<usize>,
    request_timeout: Option<u64>,
    header_read_timeout: Option<u64>,
    indication_queue: Option<usize>,
    indication_retries: Option<u32>,
    indication_verify_tls: Option<bool>,
    metrics_listen: Option<String>,
    peers: Option<PathBuf>,
    class_cache: Option<usize>,
    class_answer_cache_bytes: Option<usize>,
    instance_answer_cache_bytes: Option<usize>,
    malloc_arenas: Option<usize>,
}

/// The validated configuration of `cimomd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The CIM-XML server's endpoints, authentication and limits.
    pub server: cimom::config::Config,
    /// Directory for everything persistent.
    pub state_dir: PathBuf,
    /// Volume allow-list (at least one entry).
    pub volume_roots: Vec<PathBuf>,
    /// NBD endpoint (`None`: off).
    pub nbd_listen: Option<NbdListen>,
    /// NBD TLS and socket settings.
    pub nbd: NbdSettings,
    /// Tracing filter.
    pub log: String,
    /// Bounds of the schema caches.
    pub caches: CacheBounds,
    /// Most glibc malloc arenas (0: glibc's default).
    pub malloc_arenas: usize,
    /// The peers file of mirrors (`None`: no peers).
    pub peers: Option<PathBuf>,
}

impl Default for Config {
    /// The defaults of interface.md §1 (loopback HTTP and NBD, no auth, no HTTPS).
    fn default() -> Self {
        let state_dir = PathBuf::from(DEFAULT_STATE_DIR);
        Config {
            server: cimom::config::Config::default(),
            volume_roots: vec![state_dir.join("volumes")],
            state_dir,
            nbd_listen: Some(NbdListen::Tcp(SocketAddr::from(([127, 0, 0, 1], 10809)))),
            nbd: NbdSettings::default(),
            log: "info".into(),
            caches: CacheBounds::default(),
            malloc_arenas: cimom::server::DEFAULT_MALLOC_ARENAS,
            peers: None,
        }
    }
}

fn config_error(msg: impl Into<String>) -> Error {
    Error::Config(msg.into())
}

/// Parses `ADDR` or `off`. Accepts `IP:PORT`, `[IPv6]:PORT` and
/// `localhost:PORT` (resolved once, here).
pub fn parse_listen(flag: &str, text: &str) -> Result<Option<SocketAddr>, Error> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    // HTTPS without a port: the WBEM port.
    if flag == "https-listen" {
        if let Ok(ip) = t
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Some(SocketAddr::new(ip, 5989)));
        }
    }
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(Some(a));
    }
    // Host names: resolve, preferring the first answer.
    match t.to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .map(Some)
            .ok_or_else(|| config_error(format!("--{flag} {t:?} resolves to no address"))),
        Err(_) => Err(config_error(format!(
            "--{flag} {t:?} is not an address: use IP:PORT, HOST:PORT or off"
        ))),
    }
}

impl Config {
    /// Merges the flags with the `--config` file (if any) and the defaults, and
    /// validates the result.
    pub fn from_args(args: &Args) -> Result<Config, Error> {
        let (file, source) = match &args.config {
            Some(path) => {
                let source = crate::config_check::Source::read(path)?;
                (source.parse()?, Some(source))
            }
            None => (FileConfig::default(), None),
        };
        let config = Self::merge(args, file).map_err(|e| match &source {
            Some(s) => s.locate(e),
            None => e,
        })?;
        crate::config_check::check_dirs(&config, args, source.as_ref())?;
        Ok(config)
    }

    /// Parses a TOML configuration text alone (no flags), for tests and tools.
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| config_error(format!("configuration file: {e}")))?;
        Self::merge(&Args::default(), file)
    }

    fn merge(args: &Args, file: FileConfig) -> Result<Config, Error> {
        let d = Config::default();
        let listen = match args.listen.as_ref().or(file.listen.as_ref()) {
            Some(t) => parse_listen("listen", t)?,
            None => d.server.listen,
        };
        let https_listen = match args.https_listen.as_ref().or(file.https_listen.as_ref()) {
            Some(t) => parse_listen("https-listen", t)?,
            None => None,
        };
        let nbd_listen = match args.nbd_listen.as_ref().or(file.nbd_listen.as_ref()) {
            Some(t) => parse_nbd_listen(t)?,
            None => d.nbd_listen,
        };
        let tls_cert = args.tls_cert.clone().or(file.tls_cert);
        let tls_key = args.tls_key.clone().or(file.tls_key);
        let tls =
            match (https_listen, tls_cert.clone(), tls_key.clone()) {
                (None, _, _) => None,
                (Some(_), Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                // Neither: the server makes a self-signed pair (crate::selfsigned).
                (Some(_), None, None) => None,
                (Some(_), _, _) => return Err(config_error(
                    "--https-listen needs both --tls-cert and --tls-key (PEM files), or neither",
                )),
            };
        let metrics_listen = match args
            .metrics_listen
            .as_ref()
            .or(file.metrics_listen.as_ref())
        {
            Some(t) => parse_listen("metrics-listen", t)?,
            None => None,
        };
        let state_dir = args
            .state_dir
            .clone()
            .or(file.state_dir)
            .unwrap_or(d.state_dir);
        let volume_roots = if !args.volume_root.is_empty() {
            args.volume_root.clone()
        } else if !file.volume_root.is_empty() {
            file.volume_root
        } else {
            vec![state_dir.join("volumes")]
        };
        let users_file = args.users.clone().or(file.users);
        let auth = match args.auth.as_deref().or(file.auth.as_deref()) {
            None if users_file.is_some() => AuthMode::Basic,
            None => AuthMode::None,
            Some(m) if m.eq_ignore_ascii_case("none") => AuthMode::None,
            Some(m) if m.eq_ignore_ascii_case("basic") => AuthMode::Basic,
            Some(m) => return Err(config_error(format!("--auth {m:?}: use none or basic"))),
        };
        let insecure = args.insecure || file.insecure.unwrap_or(false);
        let file_nbd = NbdArgs {
            nbd_tls: file.nbd_tls,
            nbd_tls_cert: file.nbd_tls_cert,
            nbd_tls_key: file.nbd_tls_key,
            nbd_tls_ca: file.nbd_tls_ca,
            nbd_tls_verify_peer: file.nbd_tls_verify_peer.unwrap_or(false),
            nbd_tls_allow: file.nbd_tls_allow,
            nbd_socket_mode: file.nbd_socket_mode,
            nbd_socket_group: file.nbd_socket_group,
        };
        let nbd = crate::nbd_settings::merge(
            &args.nbd,
            file_nbd,
            nbd_listen.as_ref(),
            tls_cert.as_ref(),
            tls_key.as_ref(),
            insecure,
        )?;
        let dl = Limits::default();
        let limits = Limits {
            max_request_bytes: args
                .max_request_bytes
                .or(file.max_request_bytes)
                .unwrap_or(dl.max_request_bytes),
            max_xml_depth: args
                .max_xml_depth
                .or(file.max_xml_depth)
                .unwrap_or(dl.max_xml_depth),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(dl.max_connections),
            max_concurrent_requests: args
                .max_concurrent_requests
                .or(file.max_concurrent_requests)
                .unwrap_or(dl.max_concurrent_requests),
            request_timeout: args
                .request_timeout
                .or(file.request_timeout)
                .map(Duration::from_secs)
                .unwrap_or(dl.request_timeout),
            header_read_timeout: args
                .header_read_timeout
                .or(file.header_read_timeout)
                .map(Duration::from_secs)
                .unwrap_or(dl.header_read_timeout),
        };
        let di = IndicationConfig::default();
        let indications = IndicationConfig {
            queue_capacity: args
                .indication_queue
                .or(file.indication_queue)
                .unwrap_or(di.queue_capacity),
            attempts: args
                .indication_retries
                .or(file.indication_retries)
                .unwrap_or(di.attempts),
            verify_tls: args.indication_verify_tls || file.indication_verify_tls.unwrap_or(false),
            timeout: di.timeout,
        };
        let server = cimom::config::Config {
            listen,
            https_listen,
            tls,
            auth,
            users_file,
            insecure,
            limits,
            indications,
            metrics_listen,
        };
        server.validate()?;
        Ok(Config {
            server,
            state_dir,
            volume_roots,
            nbd_listen,
            nbd,
            log: args.log.clone().or(file.log).unwrap_or(d.log),
            peers: args.peers.clone().or(file.peers),
            caches: {
                let d = CacheBounds::default();
                CacheBounds {
                    class_cache: args
                        .class_cache
                        .or(file.class_cache)
                        .unwrap_or(d.class_cache),
                    class_answer_cache_bytes: args
                        .class_answer_cache_bytes
                        .or(file.class_answer_cache_bytes)
                        .unwrap_or(d.class_answer_cache_bytes),
                    instance_answer_cache_bytes: args
                        .instance_answer_cache_bytes
                        .or(file.instance_answer_cache_bytes)
                        .unwrap_or(d.instance_answer_cache_bytes),
                }
            },
            malloc_arenas: args
                .malloc_arenas
                .or(file.malloc_arenas)
                .unwrap_or(d.malloc_arenas),
        })
    }
}

impl crate::config_check::Source {
    fn parse(&self) -> Result<FileConfig, Error> {
        self.deserialize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(argv: &[&str]) -> Result<Config, Error> {
        let mut v = vec!["cimomd"];
        v.extend_from_slice(argv);
        Config::from_args(&Args::try_parse_from(v).expect("flags parse"))
    }

    #[test]
    fn defaults_follow_the_interface() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.server.listen, Some("127.0.0.1:5988".parse().unwrap()));
        assert_eq!(c.server.https_listen, None);
        assert_eq!(
            c.nbd_listen,
            Some(NbdListen::Tcp("127.0.0.1:10809".parse().unwrap()))
        );
        assert_eq!(c.server.auth, AuthMode::None);
        assert_eq!(c.state_dir, PathBuf::from("./var/cimom"));
        assert_eq!(c.volume_roots, vec![PathBuf::from("./var/cimom/volumes")]);
        assert_eq!(c.log, "info");
        assert_eq!(c.server.limits, Limits::default());
    }

    #[test]
    fn users_file_turns_basic_on() {
        let c = parse(&["--users", "/etc/u", "--listen", "0.0.0.0:5988"]).unwrap();
        assert_eq!(c.server.auth, AuthMode::Basic);
    }

    #[test]
    fn no_auth_on_public_address_is_refused_unless_insecure() {
        let e = parse(&["--listen", "0.0.0.0:5988"]).unwrap_err();
        assert!(e.to_string().contains("non-loopback"), "{e}");
        assert!(parse(&["--listen", "0.0.0.0:5988", "--insecure"]).is_ok());
        assert!(parse(&["--listen", "[::1]:5988"]).is_ok());
        assert!(parse(&[
            "--listen",
            "off",
            "--https-listen",
            "10.0.0.1:5989",
            "--tls-cert",
            "c",
            "--tls-key",
            "k"
        ])
        .is_err());
    }

    #[test]
    fn https_needs_cert_and_key_or_neither() {
        assert!(parse(&["--https-listen", "127.0.0.1:5989"])
            .unwrap()
            .server
            .tls
            .is_none());
        assert!(parse(&["--https-listen", "127.0.0.1:5989", "--tls-cert", "c"]).is_err());
        let c = parse(&["--listen", "off", "--https-listen"]).unwrap();
        assert_eq!(
            c.server.https_listen,
            Some("127.0.0.1:5989".parse().unwrap())
        );
        let c = parse(&["--https-listen", "::1"]).unwrap();
        assert_eq!(c.server.https_listen, Some("[::1]:5989".parse().unwrap()));
        let c = parse(&[
            "--https-listen",
            "127.0.0.1:5989",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        assert_eq!(c.server.tls.unwrap().cert, PathBuf::from("c.pem"));
    }

    #[test]
    fn off_disables_endpoints_and_bad_addresses_are_errors() {
        let c = parse(&["--listen", "off", "--nbd-listen", "OFF"]).unwrap();
        assert_eq!(c.server.listen, None);
        assert_eq!(c.nbd_listen, None);
        assert!(parse(&["--listen", "nonsense"]).is_err());
        assert!(parse(&["--auth", "kerberos"]).is_err());
        assert!(parse(&["--auth", "basic"]).is_err(), "basic without users");
    }

    #[test]
    fn toml_file_and_flag_precedence() {
        let dir = std::env::temp_dir().join(format!("cimom-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:7000\"\nstate-dir = \"/tmp/s\"\nvolume-root = [\"/a\", \"/b\"]\nmax-request-bytes = 4096\nrequest-timeout = 5\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let c = parse(&["--config", f, "--listen", "127.0.0.1:7001"]).unwrap();
        assert_eq!(c.server.listen, Some("127.0.0.1:7001".parse().unwrap()));
        assert_eq!(c.state_dir, PathBuf::from("/tmp/s"));
        assert_eq!(
            c.volume_roots,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(c.server.limits.max_request_bytes, 4096);
        assert_eq!(c.server.limits.request_timeout, Duration::from_secs(5));
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        assert!(parse(&["--config", f])
            .unwrap_err()
            .to_string()
            .contains("lisen"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn xml_limits_follow_the_server_limits() {
        let c = Config::from_toml("max-xml-depth = 20\nmax-request-bytes = 2048\n").unwrap();
        let l = c.server.xml_limits();
        assert_eq!(l.max_depth, 20);
        assert_eq!(l.max_bytes, 2048);
    }

    #[test]
    fn cache_bounds_from_flags_and_file() {
        assert_eq!(parse(&[]).unwrap().caches, CacheBounds::default());
        let c = parse(&["--class-cache", "7", "--instance-answer-cache-bytes", "0"]).unwrap();
        assert_eq!(c.caches.class_cache, 7);
        assert_eq!(c.caches.instance_answer_cache_bytes, 0);
        let d = CacheBounds::default();
        assert_eq!(
            c.caches.class_answer_cache_bytes,
            d.class_answer_cache_bytes
        );
        let c = Config::from_toml("class-answer-cache-bytes = 1024\n").unwrap();
        assert_eq!(c.caches.class_answer_cache_bytes, 1024);
        assert_eq!(c.malloc_arenas, cimom::server::DEFAULT_MALLOC_ARENAS);
        assert_eq!(parse(&["--malloc-arenas", "0"]).unwrap().malloc_arenas, 0);
    }
}
