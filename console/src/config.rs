//! `iimgr` flags ([`Args`]) and its configuration file, `console.toml`
//! (`--config FILE`), merged into a [`Config`]. A flag given on the command
//! line wins over the file.
//!
//! # `console.toml`
//!
//! ```toml
//! listen = "127.0.0.1:9988"            # or "off"
//! https-listen = "0.0.0.0:9989"        # needs tls-cert and tls-key
//! tls-cert = "/etc/iimgr/cert.pem"
//! tls-key = "/etc/iimgr/key.pem"
//! users = "/etc/iimgr/users"           # same format as cimomd's (cimomd hash-password)
//! insecure = false                     # allow no login on a non-loopback address
//! announce-token-file = "/etc/iimgr/announce-token"  # enables host registration
//! indication-listen = "127.0.0.1:0"    # where hosts deliver indications to iimgr
//! max-request-bytes = 65536
//! host-timeout = 10                    # seconds per host request
//!
//! [[host]]
//! name = "alpha"                       # unique; shown in the host column
//! url = "https://alpha:5989"           # the host's CIM URL
//! user = "admin"                       # optional credentials (never sent to browsers)
//! password-file = "/etc/iimgr/alpha.pw"
//! ca-file = "/etc/iimgr/ca.pem"
//! tags = ["prod", "rack-1"]            # tag groups of the console's filter
//! ```
//!
//! Unknown keys are refused, so a typo never silently falls back to a default.
//! The announce token file holds one line: the shared secret hosts present
//! (`cimomd --announce-token-file`).

use crate::Error;
use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default plain HTTP endpoint of the console.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9988";
/// Default largest request body.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Command-line flags of `iimgr`.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "iimgr",
    version,
    about = "Instant Image management server: JSON API, host lookup service and browser console"
)]
pub struct Args {
    /// Plain HTTP endpoint, or `off` [default: 127.0.0.1:9988]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// HTTPS endpoint [default: off]
    #[arg(long, value_name = "ADDR")]
    pub https_listen: Option<String>,
    /// PEM certificate chain for HTTPS
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Users file (`name:hash` lines, `cimomd hash-password`); enables login
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// console.toml: hosts and the same keys as these flags
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Allow serving without login on a non-loopback address
    #[arg(long)]
    pub insecure: bool,
    /// File with the shared token hosts must present to register
    #[arg(long, value_name = "FILE")]
    pub announce_token_file: Option<PathBuf>,
    /// Tracing filter [default: info]
    #[arg(long, value_name = "LEVEL")]
    pub log: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    https_listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    users: Option<PathBuf>,
    insecure: Option<bool>,
    announce_token_file: Option<PathBuf>,
    indication_listen: Option<String>,
    max_request_bytes: Option<usize>,
    host_timeout: Option<u64>,
    log: Option<String>,
    #[serde(default, rename = "host")]
    hosts: Vec<HostEntry>,
}

/// One `[[host]]` of `console.toml`. `Debug` shows no secret (only the file name).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HostEntry {
    /// Unique display name.
    pub name: String,
    /// The host's CIM URL.
    pub url: String,
    /// CIM user.
    pub user: Option<String>,
    /// File holding the CIM password (first line).
    pub password_file: Option<PathBuf>,
    /// CA bundle for an HTTPS host.
    pub ca_file: Option<PathBuf>,
    /// Tags for the console's filter.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The merged configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Plain HTTP endpoint.
    pub listen: Option<SocketAddr>,
    /// HTTPS endpoint.
    pub https_listen: Option<SocketAddr>,
    /// Certificate and key for HTTPS.
    pub tls: Option<cimom::config::TlsFiles>,
    /// Users file; `None`: no login (loopback only unless `insecure`).
    pub users: Option<PathBuf>,
    /// Allow no login on a non-loopback address.
    pub insecure: bool,
    /// The registration token (`None`: registration refused).
    pub announce_token: Option<String>,
    /// Where hosts deliver indications.
    pub indication_listen: SocketAddr,
    /// Largest request body.
    pub max_request_bytes: usize,
    /// Time limit of one request to a host.
    pub host_timeout: Duration,
    /// Tracing filter.
    pub log: String,
    /// Configured hosts.
    pub hosts: Vec<HostEntry>,
}

fn addr(what: &str, text: &str) -> Result<Option<SocketAddr>, Error> {
    if text == "off" {
        return Ok(None);
    }
    text.to_socket_addrs()
        .map_err(|e| Error::Config(format!("{what} {text:?}: {e}")))?
        .next()
        .map(Some)
        .ok_or_else(|| Error::Config(format!("{what} {text:?}: no address")))
}

/// Reads a one-line secret (token) file; an empty file is an error.
pub fn read_token_file(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(Error::Config(format!("{} holds no token", path.display())));
    }
    Ok(token)
}

impl Config {
    /// Parses `console.toml` text and merges `args` over it.
    pub fn from_parts(args: &Args, file_text: Option<&str>) -> Result<Config, Error> {
        let file: FileConfig = match file_text {
            Some(t) => {
                toml::from_str(t).map_err(|e| Error::Config(format!("console.toml: {e}")))?
            }
            None => FileConfig::default(),
        };
        let mut seen = std::collections::HashSet::new();
        for h in &file.hosts {
            if h.name.is_empty() || h.name.contains('/') {
                return Err(Error::Config(format!(
                    "console.toml: host name {:?} must be non-empty without '/'",
                    h.name
                )));
            }
            if !seen.insert(h.name.clone()) {
                return Err(Error::Config(format!(
                    "console.toml: host {} appears twice",
                    h.name
                )));
            }
        }
        let listen = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let https = args.https_listen.clone().or(file.https_listen);
        let listen = addr("--listen", &listen)?;
        let https_listen = match https {
            Some(t) => addr("--https-listen", &t)?,
            None => None,
        };
        let cert = args.tls_cert.clone().or(file.tls_cert);
        let key = args.tls_key.clone().or(file.tls_key);
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(cimom::config::TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err(Error::Config("--tls-cert and --tls-key go together".into())),
        };
        if https_listen.is_some() && tls.is_none() {
            return Err(Error::Config(
                "--https-listen needs --tls-cert and --tls-key".into(),
            ));
        }
        if listen.is_none() && https_listen.is_none() {
            return Err(Error::Config(
                "no endpoint: --listen and --https-listen are off".into(),
            ));
        }
        let users = args.users.clone().or(file.users);
        let insecure = args.insecure || file.insecure.unwrap_or(false);
        if users.is_none() && !insecure {
            for a in listen.iter().chain(https_listen.iter()) {
                if !a.ip().is_loopback() {
                    return Err(Error::Config(format!(
                        "{a} is not a loopback address: give --users for login, or --insecure to serve without"
                    )));
                }
            }
        }
        let announce_token = match args
            .announce_token_file
            .clone()
            .or(file.announce_token_file)
        {
            Some(p) => Some(read_token_file(&p)?),
            None => None,
        };
        let indication_listen = addr(
            "indication-listen",
            file.indication_listen.as_deref().unwrap_or("127.0.0.1:0"),
        )?
        .ok_or_else(|| Error::Config("indication-listen cannot be off".into()))?;
        let max_request_bytes = file.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES);
        if max_request_bytes < 1024 {
            return Err(Error::Config(
                "max-request-bytes must be at least 1024".into(),
            ));
        }
        Ok(Config {
            listen,
            https_listen,
            tls,
            users,
            insecure,
            announce_token,
            indication_listen,
            max_request_bytes,
            host_timeout: Duration::from_secs(file.host_timeout.unwrap_or(10).max(1)),
            log: args
                .log
                .clone()
                .or(file.log)
                .unwrap_or_else(|| "info".into()),
            hosts: file.hosts,
        })
    }

    /// Reads `--config` (when given) and merges.
    pub fn from_args(args: &Args) -> Result<Config, Error> {
        let text = match &args.config {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?,
            ),
            None => None,
        };
        Config::from_parts(args, text.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_with_tags_and_merges_flags() {
        let text = "listen = \"127.0.0.1:1\"\nhost-timeout = 3\n\
            [[host]]\nname = \"a\"\nurl = \"http://127.0.0.1:5988\"\ntags = [\"prod\"]\n\
            [[host]]\nname = \"b\"\nurl = \"http://127.0.0.1:5989\"\nuser = \"u\"\n";
        let args = Args {
            listen: Some("127.0.0.1:2".into()),
            ..Args::default()
        };
        let c = Config::from_parts(&args, Some(text)).unwrap();
        assert_eq!(c.listen.unwrap().port(), 2, "the flag wins over the file");
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.hosts[0].tags, vec!["prod".to_string()]);
        assert_eq!(c.hosts[1].user.as_deref(), Some("u"));
        assert_eq!(c.host_timeout, Duration::from_secs(3));
        assert!(c.announce_token.is_none());
    }

    #[test]
    fn refuses_typos_duplicates_and_open_listen_without_login() {
        let none = Args::default();
        let e = Config::from_parts(
            &none,
            Some("[[host]]\nname=\"a\"\nurl=\"u\"\npasword-file=\"x\"\n"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("pasword-file"), "{e}");
        let dup = "[[host]]\nname=\"a\"\nurl=\"u\"\n[[host]]\nname=\"a\"\nurl=\"v\"\n";
        assert!(Config::from_parts(&none, Some(dup))
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let open = Args {
            listen: Some("0.0.0.0:0".into()),
            ..Args::default()
        };
        let e = Config::from_parts(&open, None).unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        let insecure = Args {
            insecure: true,
            ..open
        };
        assert!(Config::from_parts(&insecure, None).is_ok());
    }

    /// `packaging/console.toml` (installed as `/etc/iimgr/console.toml`)
    /// parses as shipped, and with its `#key = value` lines uncommented it
    /// sets every key: the destructuring below stops compiling when a key is
    /// added, so the packaged file cannot silently fall behind.
    #[test]
    fn packaged_config_has_every_key_and_parses() {
        use clap::CommandFactory;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/console.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let c = Config::from_parts(&Args::default(), Some(&text)).unwrap();
        assert_eq!(c.listen, Some(DEFAULT_LISTEN.parse().unwrap()));
        assert!(c.https_listen.is_none() && c.users.is_none() && !c.insecure);
        assert_eq!(c.hosts.len(), 1);
        assert_eq!(c.hosts[0].url, "http://127.0.0.1:5988");
        let all: String = text
            .lines()
            .map(|l| {
                let key = l.strip_prefix('#').filter(|rest| {
                    rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')
                    })
                });
                format!("{}\n", key.unwrap_or(l))
            })
            .collect();
        for arg in Args::command().get_arguments() {
            let Some(key) = arg.get_long() else { continue };
            if !matches!(key, "config" | "help" | "version") {
                assert!(all.contains(&format!("\n{key} = ")), "{key} missing");
            }
        }
        let FileConfig {
            listen,
            https_listen,
            tls_cert,
            tls_key,
            users,
            insecure,
            announce_token_file,
            indication_listen,
            max_request_bytes,
            host_timeout,
            log,
            hosts,
        } = toml::from_str(&all).unwrap();
        assert!(listen.is_some() && https_listen.is_some() && tls_cert.is_some());
        assert!(tls_key.is_some() && users.is_some() && insecure.is_some());
        assert!(announce_token_file.is_some() && indication_listen.is_some());
        assert!(max_request_bytes.is_some() && host_timeout.is_some() && log.is_some());
        let [HostEntry {
            name,
            url,
            user,
            password_file,
            ca_file,
            tags,
        }] = &hosts[..]
        else {
            panic!("one [[host]] expected: {hosts:?}")
        };
        assert!(!name.is_empty() && !url.is_empty() && !tags.is_empty());
        assert!(user.is_some() && password_file.is_some() && ca_file.is_some());
    }

    #[test]
    fn token_file_needs_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "\n").unwrap();
        assert!(read_token_file(&p).is_err());
        std::fs::write(&p, " s3cret \nignored\n").unwrap();
        assert_eq!(read_token_file(&p).unwrap(), "s3cret");
    }
}
