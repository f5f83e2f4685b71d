//! Login, sessions and CSRF tokens.
//!
//! * With `--users`, every page and API call needs a session: `POST /login`
//!   checks the name and password against the users file (the format of
//!   `cimomd`'s, [`cimom::auth::Users`]) and sets the session cookie.
//!   Without `--users` (loopback, or `--insecure`) the first page load gets an
//!   anonymous session.
//! * The cookie `iimgr_session` is `HttpOnly; SameSite=Strict; Path=/`, and
//!   `Secure` when served over TLS. Its value is 32 random bytes (hex); the
//!   server keeps the session for [`SESSION_TTL`] after its last use.
//! * Each session has its own CSRF token (32 random bytes, hex), put in the
//!   page (`<meta name="csrf-token">`) and returned by `GET /api/v1/session`.
//!   Every state-changing request (POST, PUT, PATCH, DELETE) must carry it in
//!   the `X-CSRF-Token` header (or a `csrf` form field for the login-less
//!   logout form); otherwise it gets 403. Host announcements carry the
//!   announce token instead and need no session.

use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "iimgr_session";
/// Idle time after which a session ends.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at most; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The logged-in user (`None`: anonymous, no login configured).
    pub user: Option<String>,
    /// The session's CSRF token.
    pub csrf: String,
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The session store.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, (Session, Instant)>>,
}

impl Sessions {
    /// Creates a session; returns its cookie value.
    pub fn create(&self, user: Option<String>) -> (String, Session) {
        let id = random_token();
        let s = Session {
            user,
            csrf: random_token(),
        };
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_SESSIONS {
            m.retain(|_, (_, t)| t.elapsed() < SESSION_TTL);
            if m.len() >= MAX_SESSIONS {
                if let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(k, _)| k.clone())
                {
                    m.remove(&oldest);
                }
            }
        }
        m.insert(id.clone(), (s.clone(), Instant::now()));
        (id, s)
    }

    /// The live session of a cookie value, refreshing its idle timer.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(id) {
            Some((s, t)) if t.elapsed() < SESSION_TTL => {
                *t = Instant::now();
                Some(s.clone())
            }
            Some(_) => {
                m.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The `Set-Cookie` value for a session.
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Checks a presented CSRF token against the session's.
pub fn csrf_ok(session: &Session, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| crate::hosts::token_matches(p, &session.csrf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_strict_and_secure_over_tls() {
        let c = set_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie("abc", false).contains("Secure"));
        assert_eq!(
            cookie_value("a=1; iimgr_session=xyz; b=2", COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value("a=1", COOKIE), None);
    }

    #[test]
    fn sessions_have_their_own_csrf_token() {
        let s = Sessions::default();
        let (id1, s1) = s.create(Some("alice".into()));
        let (_, s2) = s.create(None);
        assert_ne!(s1.csrf, s2.csrf);
        assert_eq!(s.get(&id1).unwrap().user.as_deref(), Some("alice"));
        assert!(csrf_ok(&s1, Some(&s1.csrf)));
        assert!(!csrf_ok(&s1, Some(&s2.csrf)));
        assert!(!csrf_ok(&s1, None));
        s.remove(&id1);
        assert!(s.get(&id1).is_none());
    }
}
