//! Registration with a management server (`iimgr`'s lookup service):
//! `cimomd --announce URL --announce-token-file FILE`.
//!
//! Every `--announce-interval` seconds (default 30) the object manager posts
//!
//! ```text
//! POST <URL>/api/v1/announce
//! Authorization: Bearer <first line of the token file>
//! Content-Type: application/json
//!
//! {"name": "<--announce-name, default the host name>",
//!  "url": "<--announce-cim-url, default http://<bound address>>",
//!  "version": "<cimomd version>", "interval": <seconds>}
//! ```
//!
//! The first post is the registration, the following ones are heartbeats; the
//! server marks a host that misses three unreachable. A refused post (bad
//! token: 401) or an unreachable server is logged and retried at the next
//! beat: announcing never stops the object manager. An `https://` URL is
//! verified against `--announce-ca-file` (or the web PKI roots), so the token
//! never travels in the clear to a management server elsewhere. The posts go
//! through the client crate's HTTP(S) transport, the same stack (and the same
//! certificate policy) as indication delivery and every CIM client.

use crate::Error;
use bytes::Bytes;
use client::{CertVerification, HttpTransport};
use http_body_util::Full;
use std::path::PathBuf;
use std::time::Duration;

/// The announce flags (flattened into `cimomd`'s command line).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AnnounceArgs {
    /// Register with the management server at this URL (e.g. http://mgr:9988)
    #[arg(long, value_name = "URL")]
    pub announce: Option<String>,
    /// File holding the shared registration token (first line)
    #[arg(long, value_name = "FILE", requires = "announce")]
    pub announce_token_file: Option<PathBuf>,
    /// Name to register under [default: the host name]
    #[arg(long, value_name = "NAME", requires = "announce")]
    pub announce_name: Option<String>,
    /// CIM URL the management server should use [default: http://<listen address>]
    #[arg(long, value_name = "URL", requires = "announce")]
    pub announce_cim_url: Option<String>,
    /// Seconds between heartbeats [default: 30]
    #[arg(long, value_name = "SECS", requires = "announce")]
    pub announce_interval: Option<u64>,
    /// PEM CA bundle that signs an https:// management server [default: web PKI roots]
    #[arg(long, value_name = "PEM", requires = "announce")]
    pub announce_ca_file: Option<PathBuf>,
}

/// A validated announcement plan.
#[derive(Debug, Clone)]
pub struct Announcer {
    /// `host:port` of the management server.
    authority: String,
    /// The pooled HTTP(S) client the beats go through.
    transport: HttpTransport,
    /// The announce endpoint: `<URL>/api/v1/announce`.
    endpoint: String,
    token: String,
    /// The JSON body.
    body: String,
    interval: Duration,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "cimomd".into())
}

impl Announcer {
    /// Checks the flags; `None` when `--announce` is not given. `default_url`
    /// is the CIM URL of the plain endpoint when there is one.
    pub fn from_args(
        a: &AnnounceArgs,
        default_url: Option<String>,
    ) -> Result<Option<Announcer>, Error> {
        let Some(url) = &a.announce else {
            return Ok(None);
        };
        let (scheme, rest, tls) = if let Some(r) = url.strip_prefix("https://") {
            let policy = match &a.announce_ca_file {
                Some(f) => CertVerification::CaFile(f.clone()),
                None => CertVerification::WebPkiRoots,
            };
            ("https", r, Some(policy))
        } else if let Some(r) = url.strip_prefix("http://") {
            ("http", r, None)
        } else {
            return Err(Error::Config(format!(
                "--announce {url:?}: give an http:// or https:// URL"
            )));
        };
        let (authority, prefix) = match rest.split_once('/') {
            Some((h, p)) => (h.to_owned(), format!("/{}", p.trim_end_matches('/'))),
            None => (rest.to_owned(), String::new()),
        };
        let prefix = if prefix == "/" { String::new() } else { prefix };
        if authority.is_empty() {
            return Err(Error::Config(format!("--announce {url:?} has no host")));
        }
        let file = a
            .announce_token_file
            .as_ref()
            .ok_or_else(|| Error::Config("--announce needs --announce-token-file".into()))?;
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", file.display())))?;
        let token = text.lines().next().unwrap_or("").trim().to_owned();
        if token.is_empty() {
            return Err(Error::Config(format!("{} holds no token", file.display())));
        }
        let cim_url = a.announce_cim_url.clone().or(default_url).ok_or_else(|| {
            Error::Config("--announce needs --announce-cim-url when --listen is off".into())
        })?;
        let secs = a.announce_interval.unwrap_or(30);
        if !(1..=3600).contains(&secs) {
            return Err(Error::Config(format!(
                "--announce-interval {secs} is outside 1-3600"
            )));
        }
        let body = serde_json::json!({
            "name": a.announce_name.clone().unwrap_or_else(host_name),
            "url": cim_url,
            "version": env!("CARGO_PKG_VERSION"),
            "interval": secs,
        })
        .to_string();
        // Built now so that an unreadable or empty CA bundle stops cimomd at
        // start-up rather than at the first beat.
        let transport = HttpTransport::new(tls.as_ref(), Duration::from_secs(10))
            .map_err(|e| Error::Config(format!("--announce {url:?}: {e}")))?;
        let endpoint = format!("{scheme}://{authority}{prefix}/api/v1/announce");
        Ok(Some(Announcer {
            transport,
            endpoint,
            authority,
            token,
            body,
            interval: Duration::from_secs(secs),
        }))
    }

    /// Posts once; the HTTP status on an answer.
    pub async fn post(&self) -> Result<u16, String> {
        let req = http::Request::post(&self.endpoint)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(self.body.clone())))
            .map_err(|e| e.to_string())?;
        let (parts, _) = tokio::time::timeout(Duration::from_secs(10), self.transport.send(req))
            .await
            .map_err(|_| "no answer within 10 s".to_owned())??;
        Ok(parts.status.as_u16())
    }

    /// Posts now and then every interval, forever (spawn it).
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.interval);
        let mut ok = false;
        loop {
            tick.tick().await;
            match self.post().await {
                Ok(200) => {
                    if !ok {
                        tracing::info!(server = %self.authority, "registered with the management server");
                    }
                    ok = true;
                }
                Ok(s) => {
                    ok = false;
                    tracing::error!(server = %self.authority, status = s, "the management server refused the announcement (401: wrong token)");
                }
                Err(e) => {
                    ok = false;
                    tracing::warn!(server = %self.authority, error = %e, "cannot reach the management server");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str, token: &std::path::Path) -> AnnounceArgs {
        AnnounceArgs {
            announce: Some(url.into()),
            announce_token_file: Some(token.into()),
            announce_name: Some("h1".into()),
            ..AnnounceArgs::default()
        }
    }

    #[test]
    fn builds_the_announcement() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("token");
        std::fs::write(&t, "s3cret\n").unwrap();
        let a = Announcer::from_args(
            &args("http://127.0.0.1:9988/", &t),
            Some("http://127.0.0.1:5988".into()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.authority, "127.0.0.1:9988");
        assert_eq!(a.token, "s3cret");
        let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(body["name"], "h1");
        assert_eq!(body["url"], "http://127.0.0.1:5988");
        assert_eq!(body["interval"], 30);
        assert_eq!(a.endpoint, "http://127.0.0.1:9988/api/v1/announce");
        assert!(Announcer::from_args(&AnnounceArgs::default(), None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn refuses_bad_flags() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("token");
        std::fs::write(&t, "\n").unwrap();
        let url = Some("http://x:1".to_owned());
        assert!(
            Announcer::from_args(&args("http://m:1", &t), url.clone()).is_err(),
            "empty token"
        );
        std::fs::write(&t, "tok\n").unwrap();
        assert!(Announcer::from_args(&args("ftp://m:1", &t), url.clone()).is_err());
        assert!(Announcer::from_args(&args("https://m:1", &t), url.clone())
            .unwrap()
            .is_some_and(|a| a.endpoint == "https://m:1/api/v1/announce"));
        let empty_ca = dir.path().join("ca.pem");
        std::fs::write(&empty_ca, "no certificate here\n").unwrap();
        let mut with_ca = args("https://m:1/mgr/", &t);
        with_ca.announce_ca_file = Some(empty_ca);
        let err = Announcer::from_args(&with_ca, url.clone()).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
        assert!(
            Announcer::from_args(&args("http://m:1", &t), None).is_err(),
            "no CIM URL"
        );
        let mut a = args("http://m:1", &t);
        a.announce_interval = Some(0);
        assert!(Announcer::from_args(&a, url).is_err());
    }
}
