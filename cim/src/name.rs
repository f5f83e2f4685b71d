//! CIM names: identifiers that keep their case but compare case-insensitively
//! (DSP0004 §5.2: "names are case-insensitive").

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A class, property, method, qualifier, parameter or namespace name.
///
/// Equality, ordering and hashing ignore ASCII case, so a `CimName` can key a
/// map looked up with any spelling; `as_str` returns the spelling it was made with.
#[derive(Clone, Default)]
pub struct CimName(String);

impl CimName {
    /// Wraps a name, keeping its spelling.
    pub fn new(name: impl Into<String>) -> Self {
        CimName(name.into())
    }
    /// The name as spelled when created.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Case-insensitive comparison with a plain string.
    pub fn is(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
    /// The lowercase form, usable as a canonical storage key.
    pub fn to_lowercase(&self) -> String {
        self.0.to_ascii_lowercase()
    }
    /// Consumes the name, returning its spelling.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl PartialEq for CimName {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for CimName {}

impl PartialEq<str> for CimName {
    fn eq(&self, other: &str) -> bool {
        self.is(other)
    }
}
impl PartialEq<&str> for CimName {
    fn eq(&self, other: &&str) -> bool {
        self.is(other)
    }
}

impl Hash for CimName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl Ord for CimName {
    fn cmp(&self, other: &Self) -> Ordering {
        let a = self.0.bytes().map(|b| b.to_ascii_lowercase());
        let b = other.0.bytes().map(|b| b.to_ascii_lowercase());
        a.cmp(b)
    }
}
impl PartialOrd for CimName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for CimName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}
impl fmt::Display for CimName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CimName {
    fn from(s: &str) -> Self {
        CimName(s.to_owned())
    }
}
impl From<String> for CimName {
    fn from(s: String) -> Self {
        CimName(s)
    }
}
impl From<&String> for CimName {
    fn from(s: &String) -> Self {
        CimName(s.clone())
    }
}
impl AsRef<str> for CimName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn compares_case_insensitively_and_keeps_spelling() {
        let a = CimName::new("DS_IISet");
        let b = CimName::new("ds_iiset");
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "DS_IISet");
        let mut set = HashSet::new();
        set.insert(a);
        assert!(set.contains(&b));
        assert!(CimName::new("abc") < CimName::new("ABD"));
    }
}
