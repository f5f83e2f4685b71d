//! The compilation driver: reads files, follows `#pragma include`, parses one
//! production at a time, keeps the symbol tables (qualifier declarations and
//! classes per namespace, instance aliases), runs the whole-input checks and
//! delivers the result to the [`MofSink`].
//!
//! Source encodings accepted: UTF-8 (with or without BOM) and UTF-16 with a BOM
//! (as some vendors ship MOF); other bytes are read as Latin-1 with a warning.

use crate::diag::{Diagnostic, Diagnostics, Error, Location, Severity};
use crate::parser::{find_unterminated_string, parse_production, resync, Pair, Rule};
use crate::{MofSink, Options};
use cim::{CimName, Class, Instance, ObjectPath, QualifierDecl};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many declared classes stay resolved at once (superclasses are revisited
/// mostly while their subclasses are near in the input).
const RESOLVED_WORKING_SET: usize = 32;

/// A position in a source file: which file (index into `Compiler::files`) and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SrcPos {
    pub file: u32,
    pub pos: u32,
}

/// A source file read during the compilation. The text of in-memory sources is
/// kept for late diagnostics; files on disk are re-read if a late diagnostic needs them.
pub(crate) struct SourceFile {
    pub path: PathBuf,
    pub kept_text: Option<String>,
}

/// The production being lowered: its file and the offset of the parsed slice.
pub(crate) struct FileCtx<'t> {
    pub file: u32,
    pub text: &'t str,
    pub base: usize,
}

impl FileCtx<'_> {
    /// Absolute byte position of a pair.
    pub fn pos(&self, p: &Pair<'_>) -> usize {
        self.base + p.start()
    }
}

/// A class known to the compiler: declared in the input or fetched from the resolver.
///
/// A declared class keeps only its own declarations (`local`); its resolved
/// form (every inherited feature with its qualifier text) lives in a bounded
/// working set and is recomputed from `local` and the superclass's resolved
/// form when needed, so that compiling a whole schema does not hold every
/// class resolved at once.
pub(crate) struct ClassEntry {
    pub ns: u32,
    /// Own declarations (`None` for a class from the repository).
    pub local: Option<Class>,
    /// The superclass it was resolved against (`None` when it had none or it was undefined).
    pub sup: Option<usize>,
    /// The resolved class: always present for a class from the repository,
    /// while in the working set for a declared one.
    pub resolved: Option<Arc<Class>>,
    /// From the repository (not emitted again).
    pub external: bool,
    /// Had errors: never emitted, but kept so that subclasses do not cascade errors.
    pub failed: bool,
    pub at: SrcPos,
}

/// A declaration to deliver, in input order.
pub(crate) enum Item {
    Namespace(u32),
    Qualifier(u32, QualifierDecl, SrcPos),
    Class(usize),
    Instance(u32, Box<Instance>, SrcPos),
}

/// A reference to a class that was not defined yet where it was used.
pub(crate) struct PendingRef {
    pub ns: u32,
    pub class_name: CimName,
    pub user: usize,
    pub at: SrcPos,
}

/// A compilation in progress: feed it files or text, then call [`Compiler::finish`].
///
/// Declarations are checked and resolved as they are read; they reach the sink
/// in [`Compiler::finish`], in input order with every class after its
/// superclass, and only if the whole compilation is free of errors (so a
/// repository load is all-or-nothing) — unless [`Compiler::emit_on_error`]
/// asks for the error-free part.
pub struct Compiler<'a> {
    pub(crate) options: &'a Options,
    pub(crate) sink: &'a mut dyn MofSink,
    pub(crate) diags: Diagnostics,
    pub(crate) emit_on_error: bool,
    pub(crate) deliver_as_checked: bool,
    pub(crate) files: Vec<SourceFile>,
    pub(crate) include_stack: Vec<FileKey>,
    pub(crate) namespaces: Vec<String>,
    pub(crate) announced: Vec<bool>,
    pub(crate) current_ns: u32,
    pub(crate) qualifiers: HashMap<(u32, CimName), QualifierDecl>,
    pub(crate) classes: Vec<ClassEntry>,
    /// Declared classes currently resolved, least recently used first (see [`ClassEntry`]).
    pub(crate) working_set: VecDeque<usize>,
    /// Resolutions of evicted classes (for tests and tuning).
    pub(crate) resolutions: usize,
    pub(crate) class_index: HashMap<(u32, CimName), usize>,
    pub(crate) aliases: HashMap<String, ObjectPath>,
    /// `file:line:col` where each alias (lowercased) was defined.
    pub(crate) alias_sites: HashMap<String, String>,
    /// (file, byte offset of a line start, its line number) of the last alias site.
    pub(crate) alias_hint: Option<(u32, usize, u32)>,
    pub(crate) items: Vec<Item>,
    pub(crate) pending_refs: Vec<PendingRef>,
    pub(crate) error_count: usize,
    pub(crate) embed_depth: usize,
    /// (file, byte offset of a line start, its line number) of the last diagnostic.
    pub(crate) line_hint: Option<(u32, usize, u32)>,
    /// Lowercased file stem → path of every `.mof` under the include directories
    /// (built on the first autoload).
    pub(crate) mof_index: Option<HashMap<String, PathBuf>>,
    /// Qualifier declarations made by the input (not just known from the repository).
    pub(crate) declared_here: std::collections::HashSet<(u32, CimName)>,
    /// Files already autoloaded (or tried).
    pub(crate) autoloaded: std::collections::HashSet<PathBuf>,
}

impl<'a> Compiler<'a> {
    /// A compiler that will deliver into `sink`.
    pub fn new(options: &'a Options, sink: &'a mut dyn MofSink) -> Self {
        let ns = normalize_ns(&options.namespace);
        Compiler {
            options,
            sink,
            diags: Diagnostics::default(),
            emit_on_error: false,
            deliver_as_checked: false,
            files: Vec::new(),
            include_stack: Vec::new(),
            namespaces: vec![ns],
            announced: vec![false],
            current_ns: 0,
            qualifiers: HashMap::new(),
            classes: Vec::new(),
            working_set: VecDeque::new(),
            resolutions: 0,
            class_index: HashMap::new(),
            aliases: HashMap::new(),
            alias_sites: HashMap::new(),
            alias_hint: None,
            items: Vec::new(),
            pending_refs: Vec::new(),
            error_count: 0,
            embed_depth: 0,
            line_hint: None,
            mof_index: None,
            autoloaded: Default::default(),
            declared_here: Default::default(),
        }
    }

    /// Deliver the error-free declarations even when others had errors.
    pub fn emit_on_error(&mut self, yes: bool) {
        self.emit_on_error = yes;
    }

    /// Compiles a file and everything it includes.
    pub fn compile_file(&mut self, path: &Path) {
        let _span = tracing::debug_span!("mof_compile_file", path = %path.display()).entered();
        match read_source(path) {
            Ok((text, warning)) => {
                let file = self.add_file(path, None);
                if let Some(w) = warning {
                    self.diags.push(Diagnostic {
                        severity: Severity::Warning,
                        error: Error::Io {
                            path: path.display().to_string(),
                            reason: w,
                        },
                        location: None,
                    });
                }
                self.include_stack.push(file_key(path));
                self.compile_text(file, &text, 0);
                self.include_stack.pop();
            }
            Err(e) => self.error_nowhere(Error::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Compiles MOF text; `name` is used in diagnostics and to resolve includes.
    pub fn compile_source(&mut self, name: &Path, text: &str) {
        let _span =
            tracing::debug_span!("mof_compile_source", name = %name.display(), bytes = text.len())
                .entered();
        let file = self.add_file(name, Some(text.to_owned()));
        self.compile_text(file, text, 0);
    }

    /// Runs the whole-input checks, delivers the declarations to the sink and
    /// returns every diagnostic.
    pub fn finish(mut self) -> Diagnostics {
        let _span = tracing::debug_span!("mof_finish", items = self.items.len()).entered();
        // References to classes that were declared later (or never). Looking
        // one up may load its file from the include directories, which may
        // leave new pending references: repeat until none are left.
        while !self.pending_refs.is_empty() {
            for r in std::mem::take(&mut self.pending_refs) {
                if self.lookup_class(r.ns, r.class_name.as_str()).is_none() {
                    self.error_at(r.at, Error::UndefinedClass(r.class_name.to_string()));
                    self.classes[r.user].failed = true;
                }
            }
        }
        let errors = self.diags.errors().count();
        tracing::debug!(
            files = self.files.len(),
            classes = self.classes.len(),
            re_resolved = self.resolutions,
            errors,
            warnings = self.diags.len() - errors,
            "mof compilation checked"
        );
        if errors > 0 && !self.emit_on_error {
            return self.diags;
        }
        self.deliver();
        self.diags
    }

    /// Hands the queued declarations to the sink, in order.
    fn deliver(&mut self) {
        for item in std::mem::take(&mut self.items) {
            let (res, at) = match item {
                Item::Namespace(ns) => (self.sink.namespace(&self.namespaces[ns as usize]), None),
                Item::Qualifier(ns, q, at) => (
                    self.sink.qualifier_decl(&self.namespaces[ns as usize], q),
                    Some(at),
                ),
                Item::Class(i) => {
                    let e = &self.classes[i];
                    if e.failed || e.external {
                        continue;
                    }
                    let (ns, at) = (e.ns as usize, e.at);
                    let c = self.resolved(i);
                    (self.sink.class_ref(&self.namespaces[ns], &c), Some(at))
                }
                Item::Instance(ns, inst, at) => (
                    self.sink.instance(&self.namespaces[ns as usize], *inst),
                    Some(at),
                ),
            };
            if let Err(e) = res {
                let err = Error::Sink(e.to_string());
                match at {
                    Some(at) => self.error_at(at, err),
                    None => self.error_nowhere(err),
                }
            }
        }
    }

    fn add_file(&mut self, path: &Path, kept_text: Option<String>) -> u32 {
        self.files.push(SourceFile {
            path: path.to_owned(),
            kept_text,
        });
        (self.files.len() - 1) as u32
    }

    /// Deliver each declaration as soon as it is checked instead of in
    /// [`Compiler::finish`]: the sink may then receive declarations of a
    /// compilation that fails later (a reference to a class never declared),
    /// so this suits sinks that only inspect (`mofc check`), not a repository
    /// load. It saves resolving the classes a second time.
    pub fn deliver_as_checked(&mut self, yes: bool) {
        self.deliver_as_checked = yes;
    }

    pub(crate) fn too_many_errors(&self) -> bool {
        self.error_count >= self.options.max_errors
    }

    /// Parses and lowers every production of one file.
    fn compile_text(&mut self, file: u32, text: &str, depth: usize) {
        let mut off = 0;
        while off < text.len() {
            if self.too_many_errors() {
                if self.error_count == self.options.max_errors {
                    self.error_count += 1;
                    self.error_nowhere(Error::Limit(format!(
                        "stopped after {} errors",
                        self.options.max_errors
                    )));
                }
                return;
            }
            match parse_production(&text[off..]) {
                Ok(None) => break,
                Ok(Some(tree)) => {
                    let f = FileCtx {
                        file,
                        text,
                        base: off,
                    };
                    let end = tree.end();
                    self.production(&f, tree.root(), depth);
                    if self.deliver_as_checked {
                        self.deliver();
                    }
                    off += end.max(1);
                }
                Err(e) => {
                    let pos = off + e.pos;
                    let f = FileCtx {
                        file,
                        text,
                        base: 0,
                    };
                    let line_end = text[pos.min(text.len())..]
                        .find('\n')
                        .map_or(text.len(), |n| pos + n);
                    match find_unterminated_string(text, off, line_end) {
                        Some(q) => self.error(&f, q, Error::UnterminatedString),
                        None => self.error(&f, pos, Error::Syntax(e.message)),
                    }
                    off = resync(text, pos);
                }
            }
        }
    }

    fn production(&mut self, f: &FileCtx<'_>, pair: Pair<'_>, depth: usize) {
        match pair.as_rule() {
            Rule::pragma => self.pragma(f, pair, depth),
            Rule::qualifier_decl => self.lower_qualifier_decl(f, pair),
            Rule::qualified_decl => {
                let mut quals = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::qualifier_list => quals = Some(p),
                        Rule::class_decl => self.lower_class(f, p, quals.take()),
                        Rule::instance_decl => self.lower_instance_decl(f, p, quals.take()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// `#pragma include/namespace/locale/instancelocale/...`.
    fn pragma(&mut self, f: &FileCtx<'_>, pair: Pair<'_>, depth: usize) {
        let pos = f.pos(&pair);
        let mut inner = pair.into_inner();
        inner.next(); // kw_pragma
        let name = inner.next().map(|p| p.as_str()).unwrap_or_default();
        // Arguments are raw: no escape processing (include paths hold backslashes).
        let args: Vec<&str> = inner
            .map(|p| {
                let s = p
                    .into_inner()
                    .next()
                    .map(|a| a.as_str())
                    .unwrap_or_default();
                s.strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .unwrap_or(s)
            })
            .collect();
        match name.to_ascii_lowercase().as_str() {
            "include" => match args.first() {
                Some(p) => self.include(f, pos, p, depth),
                None => self.error(
                    f,
                    pos,
                    Error::Pragma("#pragma include needs a file name".into()),
                ),
            },
            "namespace" => {
                // `#pragma namespace("__set", "ns")` (OpenPegasus) or `("ns")`.
                let ns = match args.as_slice() {
                    [set, ns] if set.eq_ignore_ascii_case("__set") => *ns,
                    [ns] => *ns,
                    _ => {
                        self.error(
                            f,
                            pos,
                            Error::Pragma("#pragma namespace needs one namespace name".into()),
                        );
                        return;
                    }
                };
                self.current_ns = self.ns_id(ns);
            }
            "locale" | "instancelocale" | "nonlocal" | "nonlocaltype" | "source" | "sourcetype"
            | "comment" => {}
            other => self.warn(
                f,
                pos,
                Error::Pragma(format!("unknown pragma {other:?} ignored")),
            ),
        }
    }

    fn include(&mut self, f: &FileCtx<'_>, pos: usize, raw: &str, depth: usize) {
        let rel = raw.replace('\\', "/");
        if depth + 1 > self.options.max_include_depth {
            self.error(
                f,
                pos,
                Error::Limit(format!(
                    "#pragma include nested deeper than {}",
                    self.options.max_include_depth
                )),
            );
            return;
        }
        let including = &self.files[f.file as usize].path;
        let dir = including.parent().unwrap_or(Path::new("")).to_owned();
        let candidates = std::iter::once(dir.join(&rel))
            .chain(self.options.include_dirs.iter().map(|d| d.join(&rel)));
        // Reading is the existence test: one open per candidate, no extra stat.
        let mut found = None;
        let mut last_err = None;
        for c in candidates {
            match read_source(&c) {
                Ok(t) => {
                    found = Some((c, t));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => last_err = Some(e.to_string()),
            }
        }
        let Some((path, (text, warning))) = found else {
            let reason = last_err.unwrap_or_else(|| {
                format!(
                    "not found in {} or the include directories",
                    if dir.as_os_str().is_empty() {
                        ".".into()
                    } else {
                        dir.display().to_string()
                    }
                )
            });
            self.error(
                f,
                pos,
                Error::Include {
                    path: raw.to_owned(),
                    reason,
                },
            );
            return;
        };
        let key = file_key(&path);
        if self.include_stack.contains(&key) {
            self.error(
                f,
                pos,
                Error::Include {
                    path: raw.to_owned(),
                    reason: "include cycle".into(),
                },
            );
            return;
        }
        if let Some(w) = warning {
            self.warn(
                f,
                pos,
                Error::Io {
                    path: path.display().to_string(),
                    reason: w,
                },
            );
        }
        tracing::trace!(path = %path.display(), depth = depth + 1, "mof include");
        let file = self.add_file(&path, None);
        self.include_stack.push(key);
        self.compile_text(file, &text, depth + 1);
        self.include_stack.pop();
    }

    /// The id of a namespace, registering it on first use.
    pub(crate) fn ns_id(&mut self, ns: &str) -> u32 {
        let ns = normalize_ns(ns);
        if let Some(i) = self
            .namespaces
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&ns))
        {
            return i as u32;
        }
        self.namespaces.push(ns);
        self.announced.push(false);
        (self.namespaces.len() - 1) as u32
    }

    /// Queues the namespace announcement before its first declaration.
    pub(crate) fn announce(&mut self, ns: u32) {
        if !self.announced[ns as usize] {
            self.announced[ns as usize] = true;
            self.items.push(Item::Namespace(ns));
        }
    }

    /// A class by name in a namespace: declared earlier, or fetched from the
    /// sink / resolver (and remembered).
    pub(crate) fn lookup_class(&mut self, ns: u32, name: &str) -> Option<usize> {
        let key = (ns, CimName::new(name));
        if let Some(&i) = self.class_index.get(&key) {
            return Some(i);
        }
        let ns_name = &self.namespaces[ns as usize];
        let found = self.sink.find_class(ns_name, name).or_else(|| {
            self.options
                .resolver
                .as_ref()
                .and_then(|r| r.class(ns_name, name))
        });
        let Some(found) = found else {
            return self.autoload(ns, name);
        };
        self.classes.push(ClassEntry {
            ns,
            local: None,
            sup: None,
            resolved: Some(Arc::new(found)),
            external: true,
            failed: false,
            at: SrcPos { file: 0, pos: 0 },
        });
        let i = self.classes.len() - 1;
        self.class_index.insert(key, i);
        Some(i)
    }

    /// The resolved form of class `i`, from the working set or recomputed
    /// (its superclass first). Recomputing repeats a resolution that already
    /// succeeded or already reported its errors, so errors are not reported again.
    pub(crate) fn resolved(&mut self, i: usize) -> Arc<Class> {
        if let Some(c) = &self.classes[i].resolved {
            let c = c.clone();
            self.touch(i);
            return c;
        }
        self.resolutions += 1;
        let sup = self.classes[i].sup.map(|s| self.resolved(s));
        let local = self.classes[i]
            .local
            .clone()
            .expect("a class without a resolved form is declared here");
        let (class, _) = crate::resolve::resolve(local, sup.as_deref());
        self.keep_resolved(i, class)
    }

    /// Marks class `i` (in the working set, or from the repository) as just
    /// used, so that superclasses many classes share stay resolved.
    fn touch(&mut self, i: usize) {
        if let Some(at) = self.working_set.iter().rposition(|&w| w == i) {
            if at + 1 != self.working_set.len() {
                self.working_set.remove(at);
                self.working_set.push_back(i);
            }
        }
    }

    /// Puts class `i`'s resolved form into the working set, evicting the least recently used.
    pub(crate) fn keep_resolved(&mut self, i: usize, class: Class) -> Arc<Class> {
        let class = Arc::new(class);
        self.classes[i].resolved = Some(class.clone());
        self.working_set.push_back(i);
        if self.working_set.len() > RESOLVED_WORKING_SET {
            if let Some(old) = self.working_set.pop_front() {
                self.classes[old].resolved = None;
            }
        }
        class
    }

    /// Like pywbem: a class that is nowhere else may be in a file named after
    /// it (`CIM_Foo.mof`, any case) under an include directory; compile that
    /// file (once) and look again.
    fn autoload(&mut self, ns: u32, name: &str) -> Option<usize> {
        if self.options.include_dirs.is_empty()
            || self.include_stack.len() >= self.options.max_include_depth
        {
            return None;
        }
        let dirs = &self.options.include_dirs;
        let index = self.mof_index.get_or_insert_with(|| index_mof_files(dirs));
        let path = index.get(&name.to_ascii_lowercase())?.clone();
        if !self.autoloaded.insert(path.clone()) {
            return None;
        }
        let key = file_key(&path);
        if self.include_stack.contains(&key) {
            return None;
        }
        tracing::debug!(class = name, path = %path.display(), "mof autoload");
        let (text, _) = read_source(&path).ok()?;
        let saved_ns = std::mem::replace(&mut self.current_ns, ns);
        let file = self.add_file(&path, None);
        self.include_stack.push(key);
        let depth = self.include_stack.len();
        self.compile_text(file, &text, depth);
        self.include_stack.pop();
        self.current_ns = saved_ns;
        self.class_index.get(&(ns, CimName::new(name))).copied()
    }

    /// A qualifier declaration by name: declared earlier, or from the sink / resolver.
    pub(crate) fn lookup_qualifier(&mut self, ns: u32, name: &str) -> Option<&QualifierDecl> {
        let key = (ns, CimName::new(name));
        if !self.qualifiers.contains_key(&key) {
            let ns_name = &self.namespaces[ns as usize];
            let found = self.sink.find_qualifier_decl(ns_name, name).or_else(|| {
                self.options
                    .resolver
                    .as_ref()
                    .and_then(|r| r.qualifier_decl(ns_name, name))
            })?;
            self.qualifiers.insert(key.clone(), found);
        }
        self.qualifiers.get(&key)
    }

    /// `file:line:col` of byte `pos` (counting lines on from the last alias
    /// site, so that many aliases in one big file stay linear).
    pub(crate) fn site(&mut self, f: &FileCtx<'_>, pos: usize) -> String {
        let path = self.files[f.file as usize].path.clone();
        let l = locate(&mut self.alias_hint, path, f, pos);
        format!("{}:{}:{}", l.file.display(), l.line, l.column)
    }

    pub(crate) fn error(&mut self, f: &FileCtx<'_>, pos: usize, error: Error) {
        self.report(Severity::Error, f, pos, error);
    }

    pub(crate) fn warn(&mut self, f: &FileCtx<'_>, pos: usize, error: Error) {
        self.report(Severity::Warning, f, pos, error);
    }

    fn report(&mut self, severity: Severity, f: &FileCtx<'_>, pos: usize, error: Error) {
        if severity == Severity::Error {
            self.error_count += 1;
        }
        let path = self.files[f.file as usize].path.clone();
        let location = locate(&mut self.line_hint, path, f, pos);
        self.diags.push(Diagnostic {
            severity,
            error,
            location: Some(location),
        });
    }

    /// An error found after the file was read (late checks, sink refusals).
    fn error_at(&mut self, at: SrcPos, error: Error) {
        self.error_count += 1;
        let sf = &self.files[at.file as usize];
        let location = match &sf.kept_text {
            Some(t) => Location::at(&sf.path, t, at.pos as usize),
            None => match read_source(&sf.path) {
                Ok((t, _)) => Location::at(&sf.path, &t, at.pos as usize),
                Err(_) => Location {
                    file: sf.path.clone(),
                    ..Location::default()
                },
            },
        };
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            error,
            location: Some(location),
        });
    }

    fn error_nowhere(&mut self, error: Error) {
        self.error_count += 1;
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            error,
            location: None,
        });
    }
}

/// Every `.mof` file under `dirs` (depth-limited, first found wins), by lowercased stem.
fn index_mof_files(dirs: &[PathBuf]) -> HashMap<String, PathBuf> {
    const MAX_DEPTH: usize = 8;
    const MAX_FILES: usize = 100_000;
    let mut index = HashMap::new();
    let mut stack: Vec<(PathBuf, usize)> = dirs.iter().map(|d| (d.clone(), 0)).collect();
    stack.reverse();
    let mut seen = 0;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            seen += 1;
            if seen > MAX_FILES {
                return index;
            }
            if p.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((p, depth + 1));
                }
            } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mof")) {
                if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                    index.entry(stem.to_ascii_lowercase()).or_insert(p);
                }
            }
        }
    }
    index
}

/// `pos` clamped to the text and moved back to a char boundary.
/// The location of byte `pos`, counting lines on from `hint` (file, byte
/// offset of a line start, its line number) when it lies before `pos`, and
/// leaving the hint at this line for the next call.
fn locate(
    hint: &mut Option<(u32, usize, u32)>,
    path: PathBuf,
    f: &FileCtx<'_>,
    pos: usize,
) -> Location {
    let known = match *hint {
        Some((file, at, line)) if file == f.file && at <= pos => (at, line),
        _ => (0, 1),
    };
    let location = Location::at_from(path, f.text, pos, known);
    // The start of this line is a safe place to resume counting next time.
    let pos = location_floor(f.text, pos);
    let line_start = f.text[..pos].rfind('\n').map_or(0, |i| i + 1);
    *hint = Some((f.file, line_start, location.line));
    location
}

fn location_floor(text: &str, pos: usize) -> usize {
    let mut p = pos.min(text.len());
    while !text.is_char_boundary(p) {
        p -= 1;
    }
    p
}

/// Namespace names are stored without leading or trailing slashes.
fn normalize_ns(ns: &str) -> String {
    ns.trim().trim_matches('/').replace('\\', "/")
}

/// Identifies a file for include-cycle detection (device and inode on Unix:
/// cheaper than canonicalizing, and immune to symlinks and `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileKey {
    #[cfg(unix)]
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_key(p: &Path) -> FileKey {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(p) {
            return FileKey::Inode(m.dev(), m.ino());
        }
    }
    FileKey::Path(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()))
}

/// Reads a MOF file: UTF-8 (BOM stripped), UTF-16 with BOM, else Latin-1 with a warning.
fn read_source(path: &Path) -> std::io::Result<(String, Option<String>)> {
    let bytes = std::fs::read(path)?;
    let utf16 = |le: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    Ok(match bytes.as_slice() {
        [0xFF, 0xFE, ..] => (utf16(true), None),
        [0xFE, 0xFF, ..] => (utf16(false), None),
        [0xEF, 0xBB, 0xBF, rest @ ..] => match std::str::from_utf8(rest) {
            Ok(s) => (s.to_owned(), None),
            Err(_) => (
                latin1(rest),
                Some("not valid UTF-8; read as Latin-1".into()),
            ),
        },
        _ => match String::from_utf8(bytes) {
            Ok(s) => (s, None),
            Err(e) => (
                latin1(e.as_bytes()),
                Some("not valid UTF-8; read as Latin-1".into()),
            ),
        },
    })
}

fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}
