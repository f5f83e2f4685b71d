//! The MOF the object manager ships, and loading MOF into the repository
//! with the `mof` compiler.
//!
//! [`OBJECT_MANAGER_MOF`] holds the qualifier declarations (in `interop` and
//! `root/cimv2`), the minimal CIM schema subset the interop namespace needs
//! (`CIM_ObjectManager`, `CIM_Namespace`, `CIM_RegisteredProfile`, the
//! indication filter, listener destination and subscription classes) and the
//! indication and error classes (`CIM_Indication`, `CIM_InstCreation`,
//! `CIM_InstDeletion`, `CIM_InstModification`, `CIM_AlertIndication`,
//! `CIM_Error`) in both namespaces. The texts are this project's own minimal
//! subsets of the DMTF CIM Schema, with DMTF's names and semantics.
//!
//! Each bundled text is compiled when the repository has not seen it yet or
//! its text changed (a 64-bit FNV-1a hash is kept in the meta table under
//! `bundled:<namespace>:<name>`). Loading creates missing classes and
//! modifies existing ones, so re-loading is idempotent and a crash during a
//! load is repaired at the next start.

use crate::error::Error;
use crate::repository::{namespace_key, Repository};
use cim::{CimError, Class, Instance, QualifierDecl, StatusCode};

/// A MOF text compiled into the repository on the first start of an empty
/// state directory (and again whenever its text changes).
#[derive(Debug, Clone, Copy)]
pub struct BundledMof {
    /// Target namespace (created when missing), e.g. `root/cimv2`.
    pub namespace: &'static str,
    /// A name for diagnostics and for remembering what was loaded (`DS_II.mof`).
    pub name: &'static str,
    /// The MOF source.
    pub text: &'static str,
}

/// What [`Cimom::load_mof`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Qualifier declarations created or replaced.
    pub qualifiers: usize,
    /// Classes created.
    pub classes_created: usize,
    /// Classes that existed and were modified.
    pub classes_modified: usize,
    /// Instances created (or replaced).
    pub instances: usize,
}

const QUALIFIERS: &str = include_str!("qualifiers.mof");
const CORE: &str = include_str!("core.mof");
const INTEROP: &str = include_str!("interop.mof");

/// The object manager's own MOF, in load order.
pub const OBJECT_MANAGER_MOF: &[BundledMof] = &[
    BundledMof {
        namespace: "interop",
        name: "qualifiers.mof",
        text: QUALIFIERS,
    },
    BundledMof {
        namespace: "interop",
        name: "core.mof",
        text: CORE,
    },
    BundledMof {
        namespace: "interop",
        name: "interop.mof",
        text: INTEROP,
    },
    BundledMof {
        namespace: "root/cimv2",
        name: "qualifiers.mof",
        text: QUALIFIERS,
    },
    BundledMof {
        namespace: "root/cimv2",
        name: "core.mof",
        text: CORE,
    },
];

/// 64-bit FNV-1a: a stable fingerprint of a bundled text.
fn fingerprint(text: &str) -> [u8; 8] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.to_le_bytes()
}

/// Compiles `b` unless the same text was loaded before.
pub fn load_if_changed(repo: &Repository, b: &BundledMof) -> Result<(), Error> {
    let key = format!("bundled:{}:{}", namespace_key(b.namespace), b.name);
    let fp = fingerprint(b.text);
    if repo.meta(&key)?.as_deref() == Some(fp.as_slice()) {
        return Ok(());
    }
    repo.set_bulk(true);
    repo.create_namespace(b.namespace)?;
    let report = compile_mof(repo, b.namespace, b.name, b.text);
    repo.set_bulk(false);
    let report = report?;
    // Durable: also persists every commit of the load above.
    repo.set_meta(&key, &fp)?;
    tracing::info!(
        mof = b.name,
        namespace = b.namespace,
        classes_created = report.classes_created,
        classes_modified = report.classes_modified,
        "bundled MOF loaded"
    );
    Ok(())
}

/// Feeds the compiler's output into the repository.
struct RepoSink<'r> {
    repo: &'r Repository,
    report: LoadReport,
}

impl RepoSink<'_> {
    fn ns(&self, ns: &str) -> Result<String, CimError> {
        self.repo.resolve_namespace(ns)
    }
}

impl mof::MofSink for RepoSink<'_> {
    fn namespace(&mut self, ns: &str) -> Result<(), CimError> {
        self.repo.create_namespace(ns).map_err(|e| e.to_cim())
    }
    fn qualifier_decl(&mut self, ns: &str, q: QualifierDecl) -> Result<(), CimError> {
        let ns = self.ns(ns)?;
        self.repo.set_qualifier(&ns, q)?;
        self.report.qualifiers += 1;
        Ok(())
    }
    fn class(&mut self, ns: &str, c: Class) -> Result<(), CimError> {
        self.class_ref(ns, &c)
    }
    fn class_ref(&mut self, ns: &str, c: &Class) -> Result<(), CimError> {
        let ns = self.ns(ns)?;
        match self.repo.create_class(&ns, c) {
            Ok(()) => self.report.classes_created += 1,
            Err(e) if e.status == StatusCode::AlreadyExists => {
                self.repo.modify_class(&ns, c, false)?;
                self.report.classes_modified += 1;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
    fn instance(&mut self, ns: &str, i: Instance) -> Result<(), CimError> {
        let ns = self.ns(ns)?;
        let class = self.repo.class_for_instances(&ns, i.class_name.as_str())?;
        let stored =
            crate::static_instances::normalize(&class, &i, &self.repo.namespace_name(&ns))?;
        self.repo.upsert_instance(&ns, &stored)?;
        self.report.instances += 1;
        Ok(())
    }
    fn find_class(&self, ns: &str, name: &str) -> Option<Class> {
        let ns = self.ns(ns).ok()?;
        self.repo.get_class(&ns, name).map(|c| (*c).clone())
    }
    fn find_qualifier_decl(&self, ns: &str, name: &str) -> Option<QualifierDecl> {
        let ns = self.ns(ns).ok()?;
        self.repo.qualifier(&ns, name).ok()
    }
}

/// Creates a namespace (no error when it exists); a new namespace gets the
/// bundled qualifier declarations so that ordinary MOF and `CreateClass`
/// work in it straight away.
pub fn create_namespace(repo: &Repository, namespace: &str) -> Result<(), Error> {
    let existed = repo.resolve_namespace(namespace).is_ok();
    repo.create_namespace(namespace)?;
    if !existed {
        let ns = repo.resolve_namespace(namespace)?;
        if repo.qualifiers(&ns).is_empty() {
            repo.set_bulk(true);
            let r = compile_mof(repo, namespace, "qualifiers.mof", QUALIFIERS);
            repo.set_bulk(false);
            r?;
            repo.set_meta(
                &format!("bundled:{ns}:qualifiers.mof"),
                &fingerprint(QUALIFIERS),
            )?;
        }
    }
    Ok(())
}

/// Compiles MOF text into a namespace (created, with the bundled qualifier
/// declarations, when missing). Nothing is written unless the whole text
/// compiles; every diagnostic is reported.
pub fn compile_into(
    repo: &Repository,
    namespace: &str,
    name: &str,
    text: &str,
) -> Result<LoadReport, Error> {
    create_namespace(repo, namespace)?;
    compile_mof(repo, namespace, name, text)
}

fn compile_mof(
    repo: &Repository,
    namespace: &str,
    name: &str,
    text: &str,
) -> Result<LoadReport, Error> {
    let options = mof::Options {
        namespace: namespace.trim_matches('/').to_owned(),
        ..Default::default()
    };
    let mut sink = RepoSink {
        repo,
        report: LoadReport::default(),
    };
    let diags = {
        let mut c = mof::Compiler::new(&options, &mut sink);
        c.compile_source(std::path::Path::new(name), text);
        c.finish()
    };
    if diags.has_errors() {
        return Err(Error::Mof {
            file: name.to_owned(),
            diagnostics: diags.to_string(),
        });
    }
    Ok(sink.report)
}
