//! HTTP Basic authentication against a users file.
//!
//! # The users file (`--users FILE`)
//!
//! UTF-8 text, one user a line: `name:hash`. Blank lines and lines starting
//! with `#` are ignored. `name` is non-empty and has no `:`; `hash` is either
//! an argon2 PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`, as
//! written by `cimomd hash-password`, see [`hash_password`]) or a bcrypt hash
//! (`$2a$`, `$2b$`, `$2y$`). A line that is neither is an error naming the line,
//! so a typo never silently locks a user out. A later line for the same name
//! replaces an earlier one.
//!
//! # Cost
//!
//! Password hashes are slow by design (tens of milliseconds), far slower than
//! a CIM request. Verified credentials are therefore cached: the key is a keyed
//! BLAKE2b digest of the `Authorization` value with a random per-process key
//! (the password itself is never kept), valid for [`CACHE_TTL`]. Failed
//! attempts are never cached and are verified on the blocking pool, so a flood
//! of wrong passwords cannot stall the async workers.
//!
//! Nothing here logs a password or an `Authorization` header; failures log the
//! user name only.

use crate::Error;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use blake2::digest::{FixedOutput, KeyInit, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a verified `Authorization` value stays trusted without re-hashing.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// Most cached credentials; the cache is cleared when it would grow past this.
const CACHE_MAX: usize = 1024;

/// Hashes a password for the users file: argon2id with default parameters and
/// a random salt, as a PHC string.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    match Argon2::default().hash_password(password.as_bytes(), &salt) {
        Ok(h) => h.to_string(),
        // Unreachable with the default parameters and a generated salt; bcrypt
        // is the other format the users file accepts.
        Err(_) => bcrypt::hash(password, bcrypt::DEFAULT_COST).unwrap_or_default(),
    }
}

/// Checks `password` against one stored hash (argon2 PHC or bcrypt).
/// Malformed hashes never match.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        match PasswordHash::new(hash) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    } else if is_bcrypt(hash) {
        bcrypt::verify(password, hash).unwrap_or(false)
    } else {
        false
    }
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$2x$"]
        .iter()
        .any(|p| hash.starts_with(p))
}

/// The users file, parsed: name → password hash.
#[derive(Clone, Default)]
pub struct Users {
    hashes: HashMap<String, String>,
}

impl std::fmt::Debug for Users {
    // Hashes stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("names", &self.hashes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Users {
    /// Reads and parses a users file.
    pub fn load(path: &Path) -> Result<Users, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read users file {}: {e}", path.display()))
        })?;
        Users::parse(&text).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("users file {}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses the users file format (see the module docs).
    pub fn parse(text: &str) -> Result<Users, Error> {
        let mut hashes = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                return Err(Error::Config(format!("line {}: expected name:hash", i + 1)));
            };
            let (name, hash) = (name.trim(), hash.trim());
            if name.is_empty() {
                return Err(Error::Config(format!("line {}: empty user name", i + 1)));
            }
            let known =
                (hash.starts_with("$argon2") && PasswordHash::new(hash).is_ok()) || is_bcrypt(hash);
            if !known {
                return Err(Error::Config(format!(
                    "line {} (user {name}): the hash is neither an argon2 PHC string nor a bcrypt hash; \
                     make one with `cimomd hash-password`",
                    i + 1
                )));
            }
            hashes.insert(name.to_owned(), hash.to_owned());
        }
        Ok(Users { hashes })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// No users at all.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Checks a user's password (slow: a password hash).
    pub fn verify(&self, user: &str, password: &str) -> bool {
        match self.hashes.get(user) {
            Some(h) => verify_password(password, h),
            None => {
                // Spend comparable time for unknown users so that timing does
                // not tell which names exist.
                let _ = verify_password(password, DUMMY_HASH);
                false
            }
        }
    }
}

/// argon2id of a random string, used to equalise timing for unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2yNnPxcqV8NYvCNbuS9Ih4hE9DZqXi8aZ6/4vYGIU2I";

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header, or not `Basic`, or not decodable.
    Missing,
    /// Wrong user name or password (the name, for the log).
    Rejected(String),
}

type CacheKey = [u8; 32];
/// Keyed BLAKE2b with a 256-bit output; the key is the full 64 bytes BLAKE2b allows.
type KeyedHash = blake2::Blake2bMac<blake2::digest::consts::U32>;

/// Admits requests: with [`crate::config::AuthMode::None`] everyone, with
/// `Basic` those whose credentials match the users file. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Option<Arc<BasicInner>>,
}

struct BasicInner {
    users: Users,
    key: [u8; 64],
    cache: Mutex<HashMap<CacheKey, (String, Instant)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("basic", &self.inner.is_some())
            .finish()
    }
}

impl Authenticator {
    /// Admits everyone.
    pub fn none() -> Authenticator {
        Authenticator { inner: None }
    }

    /// Basic authentication against `users`.
    pub fn basic(users: Users) -> Authenticator {
        let mut key = [0u8; 64];
        OsRng.fill_bytes(&mut key);
        Authenticator {
            inner: Some(Arc::new(BasicInner {
                users,
                key,
                cache: Mutex::new(HashMap::new()),
            })),
        }
    }

    /// From the configuration (reads the users file for `Basic`).
    pub fn from_config(config: &crate::config::Config) -> Result<Authenticator, Error> {
        match (config.auth, &config.users_file) {
            (crate::config::AuthMode::None, _) => Ok(Authenticator::none()),
            (crate::config::AuthMode::Basic, Some(path)) => {
                Ok(Authenticator::basic(Users::load(path)?))
            }
            (crate::config::AuthMode::Basic, None) => {
                Err(Error::Config("--auth basic needs --users FILE".into()))
            }
        }
    }

    /// Whether requests must authenticate.
    pub fn is_required(&self) -> bool {
        self.inner.is_some()
    }

    /// Checks an `Authorization` header value. `Ok(None)` when authentication
    /// is off, `Ok(Some(user))` when the credentials are good.
    pub async fn check(&self, authorization: Option<&[u8]>) -> Result<Option<String>, AuthFailure> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        let Some(value) = authorization else {
            return Err(AuthFailure::Missing);
        };
        let key = inner.cache_key(value);
        if let Some(user) = inner.cached(&key) {
            return Ok(Some(user));
        }
        let (user, password) = decode_basic(value).ok_or(AuthFailure::Missing)?;
        let inner2 = Arc::clone(inner);
        let (u, ok) = tokio::task::spawn_blocking(move || {
            let ok = inner2.users.verify(&user, &password);
            (user, ok)
        })
        .await
        .map_err(|_| AuthFailure::Missing)?;
        if ok {
            inner.remember(key, &u);
            Ok(Some(u))
        } else {
            Err(AuthFailure::Rejected(u))
        }
    }
}

impl BasicInner {
    fn cache_key(&self, value: &[u8]) -> CacheKey {
        // Keyed BLAKE2b-256: without the per-process key, a memory dump of the
        // cache does not allow offline guessing any faster than the hashes do.
        let mut mac = <KeyedHash as KeyInit>::new(&self.key.into());
        Mac::update(&mut mac, value);
        mac.finalize_fixed().into()
    }

    fn cached(&self, key: &CacheKey) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(u, _)| u.clone())
    }

    fn remember(&self, key: CacheKey, user: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, (user.to_owned(), Instant::now()));
    }
}

/// Decodes `Basic base64(user:password)`; `None` when it is not that.
pub fn decode_basic(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let pair = String::from_utf8(raw).ok()?;
    let (user, password) = pair.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Encodes `Basic base64(user:password)` (for clients and tests).
pub fn encode_basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cre", &h));
    }

    #[test]
    fn bcrypt_hashes_are_accepted() {
        let h = bcrypt::hash("pw", 4).unwrap();
        let users = Users::parse(&format!("# comment\n\nalice:{h}\n")).unwrap();
        assert!(users.verify("alice", "pw"));
        assert!(!users.verify("alice", "PW"));
        assert!(!users.verify("bob", "pw"));
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        let e = Users::parse("alice:plaintext\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("alice"), "{e}");
        assert!(Users::parse("no-colon\n").is_err());
        assert!(Users::parse(":$2b$04$abc\n").is_err());
        assert!(!verify_password("x", "$argon2id$garbage"));
    }

    #[test]
    fn basic_header_codec() {
        let v = encode_basic("al:ice", "p:w");
        // The user name ends at the first colon (RFC 7617), so a colon in a
        // name cannot round-trip; a colon in the password can.
        assert_eq!(
            decode_basic(v.as_bytes()),
            Some(("al".into(), "ice:p:w".into()))
        );
        assert_eq!(decode_basic(b"Bearer abc"), None);
        assert_eq!(decode_basic(b"Basic !!!"), None);
        assert_eq!(decode_basic(b"basic YTpi"), Some(("a".into(), "b".into())));
    }

    #[tokio::test]
    async fn authenticator_caches_only_successes() {
        let h = bcrypt::hash("pw", 4).unwrap();
        let auth = Authenticator::basic(Users::parse(&format!("alice:{h}")).unwrap());
        assert_eq!(auth.check(None).await, Err(AuthFailure::Missing));
        let good = encode_basic("alice", "pw");
        let bad = encode_basic("alice", "nope");
        assert_eq!(
            auth.check(Some(good.as_bytes())).await,
            Ok(Some("alice".into()))
        );
        assert_eq!(
            auth.check(Some(good.as_bytes())).await,
            Ok(Some("alice".into()))
        );
        assert_eq!(
            auth.check(Some(bad.as_bytes())).await,
            Err(AuthFailure::Rejected("alice".into()))
        );
        assert_eq!(Authenticator::none().check(None).await, Ok(None));
    }
}
