//! Copy-services sessions, `copy-session/1` (spec: `docs/copy-session.md`,
//! schema: `sessions/schema/copy-session-1.xsd`): parsing a document into a
//! typed [`Session`] with a line:column [`Pos`] on everything
//! ([`parse`]), the static checks ([`check`]), the canonical XML form
//! ([`to_xml`]), the objects a session owns ([`plan`]) and the event state
//! machine that decides what fires and which actions follow ([`machine`]).
//!
//! No I/O: the runtime (the `DS_CopySession` provider in `cimomd`) reads pair
//! states and the journal and hands them in as plain data; `iiadm session
//! check` and the console use the same parser.

pub mod check;
pub mod machine;
pub mod model;
pub mod parse;
pub mod plan;
mod write;
mod xml;

pub use check::{resolve, Resolved, Roots};
pub use model::*;
pub use parse::{parse, parse_bytes, MAX_DOCUMENT_BYTES};
pub use write::to_xml;

/// The namespace of `copy-session/1` documents.
pub const NAMESPACE: &str = "urn:ds:copy-session:1";

/// A place in the document: 1-based line and column (columns count
/// characters, not bytes; a tab is one column).
///
/// Positions say *where*, not *what*: two positions always compare equal, so
/// that `parse(to_xml(s)) == s` holds although the canonical form moves things.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl PartialEq for Pos {
    fn eq(&self, _: &Pos) -> bool {
        true
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One message about a document, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where.
    pub pos: Pos,
    /// What is wrong, naming the element, attribute or value.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            pos,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The position's own Display ignores nothing: line:col.
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.message)
    }
}

/// The crate's error: a document that is not a valid `copy-session/1`
/// session, with every message found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The document is rejected; at least one message.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

impl Error {
    /// The messages, in document order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Invalid(d) => d,
        }
    }
}

/// Sorts messages into document order and wraps them, or `Ok(())` if none.
pub(crate) fn finish(mut diags: Vec<Diagnostic>) -> Result<(), Error> {
    if diags.is_empty() {
        return Ok(());
    }
    diags.sort_by_key(|d| (d.pos.line, d.pos.col));
    diags.dedup_by(|a, b| {
        (a.pos.line, a.pos.col) == (b.pos.line, b.pos.col) && a.message == b.message
    });
    Err(Error::Invalid(diags))
}
