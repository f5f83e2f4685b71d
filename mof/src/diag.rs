//! Diagnostics: every problem the compiler finds, with the file, line, column,
//! the source line and a caret under the offending spot, and a plain-English cause.
//!
//! The compiler never stops at the first error: parsing recovers at the next
//! declaration and semantic checks continue with the remaining classes, so a
//! single run reports every independent error ([`Diagnostics`]).

use std::fmt;
use std::path::PathBuf;

/// Why a piece of MOF was rejected (or, for warnings, what was tolerated).
///
/// This is the crate's single error enum; each [`Diagnostic`] carries one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text does not follow the MOF grammar.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A string literal runs to the end of the line or file without its closing quote.
    #[error("unterminated string literal: a string must end with '\"' on the same line")]
    UnterminatedString,
    /// A numeric, string, char16 or datetime literal that is malformed or out of range.
    #[error("bad literal: {0}")]
    BadLiteral(String),
    /// A value whose kind does not fit the declared type.
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    /// A qualifier used without a declaration.
    #[error(
        "unknown qualifier {0:?}: it has no qualifier declaration (include qualifiers.mof first)"
    )]
    UnknownQualifier(String),
    /// A qualifier used where its declared scope does not allow it.
    #[error("qualifier {name:?} is not allowed on a {element} (its Scope does not include it)")]
    QualifierScope {
        /// Qualifier name.
        name: String,
        /// Element kind (class, association, property, ...).
        element: &'static str,
    },
    /// The same qualifier given twice on one element.
    #[error("qualifier {0:?} is given twice on the same element")]
    DuplicateQualifier(String),
    /// A qualifier with DisableOverride in a superclass given a different value.
    #[error(
        "qualifier {0:?} cannot be overridden: it has flavor DisableOverride in the superclass"
    )]
    QualifierOverride(String),
    /// A bad qualifier declaration (unknown scope or flavor word, bad default).
    #[error("bad qualifier declaration: {0}")]
    BadQualifierDecl(String),
    /// A superclass that is neither earlier in the input nor known to the resolver.
    #[error("undefined superclass {superclass:?} of class {class:?}: declare it (or include its file) before the subclass")]
    UndefinedSuperclass {
        /// The class being declared.
        class: String,
        /// The missing superclass.
        superclass: String,
    },
    /// A class named in a `REF` type or an `instance of` that does not exist.
    #[error("undefined class {0:?}")]
    UndefinedClass(String),
    /// A class declared twice in the same namespace.
    #[error("class {0:?} is already defined in this namespace")]
    DuplicateClass(String),
    /// A qualifier declared twice with different definitions.
    #[error("qualifier {0:?} is already declared differently in this namespace")]
    DuplicateQualifierDecl(String),
    /// A property declared twice in one class.
    #[error("duplicate property {0:?}: a class may declare a property only once")]
    DuplicateProperty(String),
    /// A method declared twice in one class.
    #[error("duplicate method {0:?}: a class may declare a method only once")]
    DuplicateMethod(String),
    /// A parameter declared twice in one method.
    #[error("duplicate parameter {0:?}")]
    DuplicateParameter(String),
    /// A reference property in a class that is not an association.
    #[error("reference {property:?} is declared in class {class:?}, which is not an association (only association classes may have reference properties)")]
    ReferenceInNonAssociation {
        /// The class.
        class: String,
        /// The reference property.
        property: String,
    },
    /// Violation of the association rules (too few references, ...).
    #[error("association rule: {0}")]
    Association(String),
    /// Violation of the key rules.
    #[error("key rule: {0}")]
    Key(String),
    /// An `Override` naming a feature the superclass does not have.
    #[error("{0}")]
    BadOverride(String),
    /// An unknown data type name.
    #[error("unknown data type {0:?}")]
    UnknownType(String),
    /// An instance problem: unknown property, duplicate property, unknown alias.
    #[error("{0}")]
    Instance(String),
    /// An `#pragma include` whose file cannot be found or read.
    #[error("cannot include {path:?}: {reason}")]
    Include {
        /// The path as written.
        path: String,
        /// The I/O failure.
        reason: String,
    },
    /// A file named on the command line or by the caller cannot be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The path.
        path: String,
        /// The I/O failure.
        reason: String,
    },
    /// An unknown or malformed `#pragma` (a warning: the compiler continues).
    #[error("{0}")]
    Pragma(String),
    /// The [`crate::MofSink`] refused a declaration.
    #[error("the repository refused it: {0}")]
    Sink(String),
    /// Too many errors, too deep includes, or a recursion limit.
    #[error("limit exceeded: {0}")]
    Limit(String),
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Tolerated (an unknown pragma, a quirk); compilation succeeds.
    Warning,
    /// The declaration it concerns is not produced; compilation fails.
    Error,
}

/// Where a diagnostic points.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The file (as opened, or the name given to [`crate::compile_str`]).
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// The whole source line, without its line terminator.
    pub excerpt: String,
}

impl Location {
    /// Computes line, column and excerpt for byte offset `pos` in `text`.
    pub fn at(file: impl Into<PathBuf>, text: &str, pos: usize) -> Location {
        Location::at_from(file, text, pos, (0, 1))
    }

    /// Like [`Location::at`], counting lines from a known `(offset, line)`
    /// at or before `pos` (so that many diagnostics in one big file stay linear).
    pub(crate) fn at_from(
        file: impl Into<PathBuf>,
        text: &str,
        pos: usize,
        known: (usize, u32),
    ) -> Location {
        let pos = floor_char_boundary(text, pos.min(text.len()));
        let (from, from_line) = if known.0 <= pos { known } else { (0, 1) };
        let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = text.as_bytes()[from.min(line_start)..line_start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + from_line as usize;
        let column = text[line_start..pos].chars().count() + 1;
        Location {
            file: file.into(),
            line: line as u32,
            column: column as u32,
            excerpt: text[line_start..line_end].trim_end_matches('\r').to_owned(),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One problem, where it is, and how bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The cause.
    pub error: Error,
    /// Where (absent for problems with no source position, e.g. an unreadable top-level file).
    pub location: Option<Location>,
}

impl fmt::Display for Diagnostic {
    /// rustc-like rendering:
    ///
    /// ```text
    /// error: unknown qualifier "Kee": ...
    ///   --> x.mof:3:6
    ///    |
    ///  3 |     [Kee] string Name;
    ///    |      ^
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        writeln!(f, "{sev}: {}", self.error)?;
        if let Some(loc) = &self.location {
            let num = loc.line.to_string();
            let pad = " ".repeat(num.len());
            writeln!(
                f,
                "{pad}--> {}:{}:{}",
                loc.file.display(),
                loc.line,
                loc.column
            )?;
            writeln!(f, "{pad} |")?;
            writeln!(f, "{num} | {}", loc.excerpt)?;
            // Keep tabs so the caret lines up under tab-indented source.
            let lead: String = loc
                .excerpt
                .chars()
                .take(loc.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{pad} | {lead}^")?;
        }
        Ok(())
    }
}

/// Every diagnostic of a compilation, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Iterates over all diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.errors().count();
        let w = self.warnings().count();
        write!(f, "{n} error(s), {w} warning(s)")
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_points_at_line_and_column() {
        let text = "a\nbc d\n";
        let l = Location::at("f.mof", text, 5);
        assert_eq!((l.line, l.column), (2, 4));
        assert_eq!(l.excerpt, "bc d");
        let d = Diagnostic {
            severity: Severity::Error,
            error: Error::UnknownQualifier("Kee".into()),
            location: Some(l),
        };
        let s = d.to_string();
        assert!(s.contains("f.mof:2:4"), "{s}");
        assert!(s.contains("2 | bc d\n  |    ^"), "{s}");
    }

    #[test]
    fn counting_from_a_hint_agrees_with_counting_from_the_start() {
        let text = "a\nbb\n\u{e9}c\nd\n\nlast";
        let last = text.rfind('\n').unwrap() + 1;
        for pos in 0..=text.len() {
            let plain = Location::at("f", text, pos);
            // Hints are line starts with their numbers; later ones are ignored.
            for hint in [(0, 1), (2, 2), (5, 3), (last, 6)] {
                assert_eq!(
                    Location::at_from("f", text, pos, hint),
                    plain,
                    "pos {pos} hint {hint:?}"
                );
            }
        }
    }

    #[test]
    fn location_past_end_is_clamped() {
        let l = Location::at("f", "abc", 99);
        assert_eq!((l.line, l.column), (1, 4));
    }
}
