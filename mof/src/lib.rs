//! The MOF compiler (DMTF DSP0004 Managed Object Format), producing the
//! [`cim`] object model.
//!
//! Entry points:
//!
//! * [`compile_files`] / [`compile_str`] — compile to a [`Compiled`] value
//!   (qualifier declarations, fully resolved classes in dependency order, instances).
//! * [`Compiler`] with a [`MofSink`] — stream every declaration into a repository
//!   (the OpenPegasus `cimmofRepositoryInterface` / pywbem repository-connection
//!   idea), looking up classes and qualifier declarations that already exist
//!   there through [`MofSink::find_class`] / [`MofSink::find_qualifier_decl`]
//!   (or an [`Options::resolver`]).
//! * [`print`](mod@print) — a MOF printer; compile → print → compile yields an equal model.
//!
//! Pipeline: a hand-written recursive-descent parser (`parser`) parses one
//! top-level production at a time (so that a syntax error is reported and
//! parsing resumes at the next declaration) into a small node tree; each
//! production is lowered straight from that tree into the model (`lower`), checked against the qualifier declarations, and
//! resolved against its already-resolved superclass through a name → index map
//! (`resolve`), then queued. The compiler keeps each class's own declarations
//! and only a small working set of resolved classes (a resolved class repeats
//! every inherited qualifier text), resolving a class again when it is needed
//! after leaving the set; so checking a whole schema holds about one copy of it. [`Compiler::finish`] runs the checks that need
//! the whole input (reference classes declared later) and then delivers the
//! queue to the sink — only when there are no errors, so that loading into a
//! repository is all-or-nothing.
//!
//! Errors never stop compilation early: every independent problem becomes a
//! [`Diagnostic`] with file, line, column, source excerpt and cause.
//!
//! # Language and deviations
//!
//! The grammar follows DSP0004 v2.x Annex A ("MOF syntax grammar description")
//! plus the v3 `association`/`indication` class keywords and embedded instance
//! values (`Prop = instance of X { ... };`). Tolerated quirks are listed in the
//! parser module (backslash include paths, keyword case, comments in array
//! brackets, ...). Deliberate deviations, as in pywbem/OpenPegasus:
//!
//! * Class-scoped qualifiers are accepted on associations and indications.
//! * A scalar value where an array is declared becomes a one-element array.
//! * A redeclared property without `Override` overrides silently; `Override`
//!   that renames (`Override("Other")` on a differently named feature) is refused.
//! * `#pragma namespace` switches the namespace for the rest of the
//!   compilation (including after the end of the file that said it);
//!   `#pragma namespace("__set", "ns")` is understood too.
//! * `#pragma locale`, `instancelocale`, `nonlocal`, `source`, ... are accepted
//!   and ignored; unknown pragmas are warnings.
//! * Parameter default values (v3) are ignored with a warning (the model has none);
//!   v3 structures, enumerations and `object`-typed features are not supported.
//! * A qualifier declaration or class identical to an existing one is accepted
//!   silently (the same file included twice); a different one is an error.
//! * With [`Options::include_dirs`], undefined classes are loaded from files
//!   named after them (pywbem's behaviour), so that the OpenPegasus interface
//!   files (`CIM_Core.mof`, ...) compile in sequence.
//!
//! Semantic checks: qualifier existence, scope, type and flavors
//! (ToSubclass/Restricted propagation, DisableOverride), duplicate qualifiers,
//! properties, methods and parameters, superclass and reference class
//! existence, override targets and types, references only in associations,
//! at least two references per association, no association derived from a
//! non-association, no array keys, no new keys in a subclass once the chain
//! has keys, instance property names and value types,
//! key values present in instances, no instances of abstract classes, and
//! `$alias` references defined before use.

mod compiler;
mod diag;
mod literal;
mod lower;
mod parser;
pub mod print;
mod resolve;

use cim::{CimError, Class, Instance, QualifierDecl};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use compiler::Compiler;
pub use diag::{Diagnostic, Diagnostics, Error, Location, Severity};

/// The namespace used until a `#pragma namespace` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "root/cimv2";

/// Looks up classes and qualifier declarations that exist outside the MOF being
/// compiled (e.g. in the object manager's repository), so that MOF can derive
/// from, refer to and use them.
pub trait Resolver: Send + Sync {
    /// The fully resolved class `name` in namespace `ns`, if it exists.
    fn class(&self, ns: &str, name: &str) -> Option<Class>;
    /// The qualifier declaration `name` in namespace `ns`, if it exists.
    fn qualifier_decl(&self, ns: &str, name: &str) -> Option<QualifierDecl>;
}

/// Receives everything the compiler produces, in order: a namespace before the
/// first declaration in it, qualifier declarations, classes (superclasses
/// first, fully resolved: inherited features present with `propagated = true`
/// and `class_origin` set) and instances.
///
/// A sink error becomes an [`Error::Sink`] diagnostic at the declaration's
/// location; compilation continues with the next declaration.
pub trait MofSink {
    /// A namespace is about to receive its first declaration (create it if needed).
    fn namespace(&mut self, ns: &str) -> Result<(), CimError> {
        let _ = ns;
        Ok(())
    }
    /// A qualifier declaration.
    fn qualifier_decl(&mut self, ns: &str, q: QualifierDecl) -> Result<(), CimError>;
    /// A resolved class.
    fn class(&mut self, ns: &str, c: Class) -> Result<(), CimError>;
    /// A resolved class, lent: the compiler keeps classes it may still need
    /// (as superclasses) and lends them; override this when the class is only
    /// read, to save the copy.
    fn class_ref(&mut self, ns: &str, c: &Class) -> Result<(), CimError> {
        self.class(ns, c.clone())
    }
    /// An instance, with its `path` set from its key properties.
    fn instance(&mut self, ns: &str, i: Instance) -> Result<(), CimError>;
    /// An existing class the MOF may derive from or refer to (consulted before
    /// [`Options::resolver`], only for names not declared in the MOF itself).
    fn find_class(&self, ns: &str, name: &str) -> Option<Class> {
        let _ = (ns, name);
        None
    }
    /// An existing qualifier declaration the MOF may use.
    fn find_qualifier_decl(&self, ns: &str, name: &str) -> Option<QualifierDecl> {
        let _ = (ns, name);
        None
    }
}

/// Compiler settings.
#[derive(Clone)]
pub struct Options {
    /// Namespace for declarations before any `#pragma namespace` (default `root/cimv2`).
    pub namespace: String,
    /// Directories searched for `#pragma include` files not found relative to
    /// the including file (like `cimmof -I`). Also, as pywbem does, a class
    /// found nowhere else (superclass, reference class, instance class) is
    /// loaded from a file named after it (`CIM_Foo.mof`, any case, any depth)
    /// under these directories.
    pub include_dirs: Vec<PathBuf>,
    /// Existing classes and qualifier declarations (see [`Resolver`]).
    pub resolver: Option<Arc<dyn Resolver>>,
    /// Stop after this many errors (default 1000).
    pub max_errors: usize,
    /// Maximum `#pragma include` nesting (default 32); guards against include cycles.
    pub max_include_depth: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            include_dirs: Vec::new(),
            resolver: None,
            max_errors: 1000,
            max_include_depth: 32,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("namespace", &self.namespace)
            .field("include_dirs", &self.include_dirs)
            .field("resolver", &self.resolver.is_some())
            .field("max_errors", &self.max_errors)
            .field("max_include_depth", &self.max_include_depth)
            .finish()
    }
}

/// The result of a compilation, all namespaces together (use a [`MofSink`] to
/// see which namespace each declaration went to). `Compiled` is itself a
/// [`MofSink`] that collects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compiled {
    /// Qualifier declarations, in input order.
    pub qualifiers: Vec<QualifierDecl>,
    /// Classes in dependency order (superclasses first), fully resolved.
    pub classes: Vec<Class>,
    /// Instances in input order, with paths.
    pub instances: Vec<Instance>,
    /// Namespaces that received declarations, in first-use order.
    pub namespaces: Vec<String>,
    /// Warnings (unknown pragmas, tolerated quirks).
    pub warnings: Vec<Diagnostic>,
}

impl Compiled {
    /// The class with this name (case-insensitive).
    pub fn class(&self, name: &str) -> Option<&Class> {
        self.classes.iter().find(|c| c.name.is(name))
    }
    /// The qualifier declaration with this name (case-insensitive).
    pub fn qualifier(&self, name: &str) -> Option<&QualifierDecl> {
        self.qualifiers.iter().find(|q| q.name.is(name))
    }
}

impl MofSink for Compiled {
    fn namespace(&mut self, ns: &str) -> Result<(), CimError> {
        self.namespaces.push(ns.to_owned());
        Ok(())
    }
    fn qualifier_decl(&mut self, _ns: &str, q: QualifierDecl) -> Result<(), CimError> {
        self.qualifiers.push(q);
        Ok(())
    }
    fn class(&mut self, _ns: &str, c: Class) -> Result<(), CimError> {
        self.classes.push(c);
        Ok(())
    }
    fn instance(&mut self, _ns: &str, i: Instance) -> Result<(), CimError> {
        self.instances.push(i);
        Ok(())
    }
}

/// Compiles MOF files (each with its `#pragma include`s) into one model.
///
/// Returns every diagnostic when any of them is an error; warnings travel in
/// [`Compiled::warnings`].
pub fn compile_files<P: AsRef<Path>>(
    paths: &[P],
    options: &Options,
) -> Result<Compiled, Diagnostics> {
    let mut out = Compiled::default();
    let diags = {
        let mut c = Compiler::new(options, &mut out);
        for p in paths {
            c.compile_file(p.as_ref());
        }
        c.finish()
    };
    finish(out, diags)
}

/// Compiles MOF text; `name` is used in diagnostics and to resolve relative
/// `#pragma include` paths (against its directory, then [`Options::include_dirs`]).
pub fn compile_str(name: &str, text: &str, options: &Options) -> Result<Compiled, Diagnostics> {
    let (out, diags) = compile_str_lossy(name, text, options);
    finish(out, diags)
}

/// Like [`compile_str`] but always returns what could be compiled together
/// with every diagnostic (errors and warnings).
pub fn compile_str_lossy(name: &str, text: &str, options: &Options) -> (Compiled, Diagnostics) {
    let mut out = Compiled::default();
    let diags = {
        let mut c = Compiler::new(options, &mut out);
        c.emit_on_error(true);
        c.compile_source(Path::new(name), text);
        c.finish()
    };
    (out, diags)
}

fn finish(mut out: Compiled, diags: Diagnostics) -> Result<Compiled, Diagnostics> {
    if diags.has_errors() {
        Err(diags)
    } else {
        out.warnings = diags.0;
        Ok(out)
    }
}
