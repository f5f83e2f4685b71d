//! The compilation driver (work in progress: signatures are final).

use crate::diag::Diagnostics;
use crate::{MofSink, Options};
use std::path::Path;

/// A compilation in progress: feed it files or text, then call [`Compiler::finish`].
///
/// Declarations are checked and resolved as they are read; they reach the sink
/// in [`Compiler::finish`], in input order with every class after its
/// superclass, and only if the whole compilation is free of errors (so a
/// repository load is all-or-nothing) — unless `emit_on_error` was requested
/// with [`Compiler::emit_on_error`].
pub struct Compiler<'a> {
    options: &'a Options,
    sink: &'a mut dyn MofSink,
    diags: Diagnostics,
    emit_on_error: bool,
}

impl<'a> Compiler<'a> {
    /// A compiler that will deliver into `sink`.
    pub fn new(options: &'a Options, sink: &'a mut dyn MofSink) -> Self {
        Compiler { options, sink, diags: Diagnostics::default(), emit_on_error: false }
    }
    /// Deliver the error-free declarations even when others had errors.
    pub fn emit_on_error(&mut self, yes: bool) {
        self.emit_on_error = yes;
    }
    /// Compiles a file and everything it includes.
    pub fn compile_file(&mut self, path: &Path) {
        let _ = (path, &self.options, &self.sink);
    }
    /// Compiles MOF text; `name` is used in diagnostics and to resolve includes.
    pub fn compile_source(&mut self, name: &Path, text: &str) {
        let _ = (name, text);
    }
    /// Runs the whole-input checks, delivers the declarations to the sink and
    /// returns every diagnostic.
    pub fn finish(self) -> Diagnostics {
        self.diags
    }
}
