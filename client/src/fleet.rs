//! A fleet of hosts managed as one: the sets of many `cimomd`s, and moving a
//! shadow from one host to another in one call.
//!
//! # Configuration file (TOML)
//!
//! ```toml
//! # defaults for every host (all optional)
//! user = "admin"
//! password_file = "/etc/ii/password"
//! ca_file = "/etc/ii/ca.pem"
//! no_verify = false
//! timeout_secs = 60
//!
//! [[host]]
//! name = "alpha"                 # optional; defaults to the URL
//! url = "https://alpha:5989"
//!
//! [[host]]
//! name = "beta"
//! url = "http://beta:5988"
//! user = "other"                 # per-host values override the defaults
//! password = "inline secret"     # or password_file
//! ```
//!
//! Host names must be unique; unknown keys are rejected so typos surface.

use crate::conn::{read_password_file, Client, ClientConfig};
use crate::error::{Error, Result};
use crate::ii::{IiHost, SetHandle, SetInfo};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The fleet configuration file, as parsed. `Debug` never shows passwords.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Default user.
    pub user: Option<String>,
    /// Default password (prefer `password_file`).
    pub password: Option<String>,
    /// Default password file.
    pub password_file: Option<PathBuf>,
    /// Default CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Default for skipping TLS verification (test setups).
    #[serde(default)]
    pub no_verify: bool,
    /// Default request timeout in seconds.
    pub timeout_secs: Option<u64>,
    /// The hosts.
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostConfig>,
}

/// One `[[host]]` entry. `Debug` never shows the password.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Short name used in fleet calls (defaults to the URL).
    pub name: Option<String>,
    /// Server URL.
    pub url: String,
    /// User (overrides the default).
    pub user: Option<String>,
    /// Password (overrides the default).
    pub password: Option<String>,
    /// Password file (overrides the default).
    pub password_file: Option<PathBuf>,
    /// CA bundle (overrides the default).
    pub ca_file: Option<PathBuf>,
    /// Skip TLS verification for this host.
    pub no_verify: Option<bool>,
    /// Request timeout in seconds.
    pub timeout_secs: Option<u64>,
}

fn redact(p: &Option<String>) -> Option<&'static str> {
    p.as_ref().map(|_| "<redacted>")
}

impl std::fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetConfig")
            .field("user", &self.user)
            .field("password", &redact(&self.password))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("no_verify", &self.no_verify)
            .field("timeout_secs", &self.timeout_secs)
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &redact(&self.password))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("no_verify", &self.no_verify)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

impl FleetConfig {
    /// Parses the TOML text.
    pub fn parse(text: &str) -> Result<FleetConfig> {
        let cfg: FleetConfig =
            toml::from_str(text).map_err(|e| Error::Config(format!("fleet configuration: {e}")))?;
        let mut seen = std::collections::HashSet::new();
        for h in &cfg.hosts {
            let name = h.name.clone().unwrap_or_else(|| h.url.clone());
            if !seen.insert(name.clone()) {
                return Err(Error::Config(format!(
                    "fleet configuration: host {name} appears twice"
                )));
            }
        }
        Ok(cfg)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<FleetConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        FleetConfig::parse(&text)
    }

    fn client_config(&self, h: &HostConfig) -> Result<ClientConfig> {
        let mut c = ClientConfig::new(h.url.clone());
        c.user = h.user.clone().or_else(|| self.user.clone());
        c.password = match (&h.password, &h.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(f)) => Some(read_password_file(f)?),
            (None, None) => match (&self.password, &self.password_file) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(f)) => Some(read_password_file(f)?),
                (None, None) => None,
            },
        };
        c.ca_file = h.ca_file.clone().or_else(|| self.ca_file.clone());
        c.no_verify = h.no_verify.unwrap_or(self.no_verify);
        if let Some(t) = h.timeout_secs.or(self.timeout_secs) {
            c.timeout = Some(Duration::from_secs(t));
        }
        Ok(c)
    }
}

/// Several hosts, each with its facade.
#[derive(Debug, Clone)]
pub struct Fleet {
    hosts: Vec<(String, IiHost)>,
}

impl Fleet {
    /// Builds the clients for every configured host (no connection yet).
    pub fn new(config: &FleetConfig) -> Result<Fleet> {
        let mut hosts = Vec::new();
        for h in &config.hosts {
            let name = h.name.clone().unwrap_or_else(|| h.url.clone());
            let client = Client::new(config.client_config(h)?)?;
            hosts.push((name, IiHost::new(client)));
        }
        Ok(Fleet { hosts })
    }

    /// Loads a configuration file and builds the fleet.
    pub fn from_file(path: &Path) -> Result<Fleet> {
        Fleet::new(&FleetConfig::load(path)?)
    }

    /// A fleet from already built hosts.
    pub fn from_hosts(hosts: Vec<(String, IiHost)>) -> Fleet {
        Fleet { hosts }
    }

    /// Host names in configuration order.
    pub fn names(&self) -> Vec<&str> {
        self.hosts.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The facade of one host.
    pub fn host(&self, name: &str) -> Result<&IiHost> {
        self.hosts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h)
            .ok_or_else(|| Error::UnknownHost(name.to_owned()))
    }

    /// The sets of every host, queried concurrently; a host that fails gives its error.
    pub async fn list_sets(&self) -> Vec<(String, Result<Vec<SetInfo>>)> {
        let futs = self
            .hosts
            .iter()
            .map(|(n, h)| async move { (n.clone(), h.list_sets().await) });
        futures::future::join_all(futs).await
    }

    /// Finds a set (shadow path or set name) on any host: the first host that has it.
    pub async fn find_set(&self, name: &str) -> Result<(String, SetHandle)> {
        for (n, h) in &self.hosts {
            match h.find_set(name).await {
                Ok(s) => return Ok((n.clone(), s)),
                Err(Error::SetNotFound(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::SetNotFound(name.to_owned()))
    }

    /// Moves a shadow: `exportVolume` of the set `shadow` on `from`, then
    /// `importShadow(shadow, bitmap)` on `to`. When the import fails the export
    /// is undone with `joinVolume("")` on `from` (nothing was written
    /// elsewhere), and the import error is returned.
    pub async fn move_shadow(
        &self,
        from: &str,
        shadow: &str,
        to: &str,
        bitmap: &str,
    ) -> Result<SetHandle> {
        let src = self.host(from)?;
        let dst = self.host(to)?;
        let set = src.find_set(shadow).await?;
        set.export().await?;
        tracing::info!(shadow, from, to, "shadow exported");
        match dst.import_shadow(shadow, bitmap).await {
            Ok(h) => Ok(h),
            Err(e) => {
                if let Err(undo) = set.join("").await {
                    tracing::error!(shadow, error = %undo, "could not rejoin the shadow after a failed import");
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\nignored\n").unwrap();
        let text = format!(
            "user = \"admin\"\npassword_file = {:?}\ntimeout_secs = 7\n\
             [[host]]\nname = \"a\"\nurl = \"http://a:5988\"\n\
             [[host]]\nurl = \"http://b:5988\"\nuser = \"bob\"\npassword = \"x\"\n",
            pw
        );
        let cfg = FleetConfig::parse(&text).unwrap();
        assert_eq!(cfg.hosts.len(), 2);
        let a = cfg.client_config(&cfg.hosts[0]).unwrap();
        assert_eq!(a.user.as_deref(), Some("admin"));
        assert_eq!(a.password.as_deref(), Some("s3cret"));
        assert_eq!(a.timeout, Some(Duration::from_secs(7)));
        let b = cfg.client_config(&cfg.hosts[1]).unwrap();
        assert_eq!(b.user.as_deref(), Some("bob"));
        assert_eq!(b.password.as_deref(), Some("x"));
        let fleet = Fleet::new(&cfg).unwrap();
        assert_eq!(fleet.names(), vec!["a", "http://b:5988"]);
        assert!(matches!(fleet.host("zzz"), Err(Error::UnknownHost(_))));
        let dbg = format!("{cfg:?} {b:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("\"x\""), "{dbg}");
    }

    #[test]
    fn rejects_typos_and_duplicates() {
        assert!(FleetConfig::parse("[[host]]\nurl = \"http://a\"\nusr = \"x\"\n").is_err());
        let dup = "[[host]]\nname = \"a\"\nurl = \"http://a\"\n[[host]]\nname = \"a\"\nurl = \"http://b\"\n";
        let e = FleetConfig::parse(dup).unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
    }
}
