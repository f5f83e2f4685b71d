//! The persistent repository: namespaces, qualifier declarations, classes and
//! static instances in one redb file in the state directory, with an
//! in-memory class index and a bounded working set of resolved classes.
//!
//! The on-disk layout is documented in `FORMAT.md` (included below). Every
//! public write is one redb write transaction (copy-on-write B-trees with a
//! checksummed commit slot), so a crash at any moment leaves the previous or
//! the new state. The class cache is updated only after the commit, under the
//! cache's write lock, so readers never see a class the store does not hold.
//!
//! Classes are stored as *declarations* (what the class itself declares) and
//! resolved when asked for ([`resolve`]); the index (name, superclass,
//! association flag, subclasses) answers hierarchy walks without resolving,
//! and a bounded working set keeps recently used resolved classes as shared
//! `Arc<Class>`es. A resolved DMTF class carries every inherited element
//! with its qualifier text, so holding all of them took ~80 MB for the 2.41
//! schema, against ~10 MB for the whole file on disk.
//!
//! Decoded static instances are cached too, per (namespace, class), so that
//! repeated enumerations skip the store and the decoder ([`InstanceCache`]).
//! Every instance write drops the class's entry after its commit, and a
//! generation counter keeps a reader that decoded from a snapshot older than
//! that commit from installing what it read.
//!
//! This file holds the store, the caches, namespaces, qualifier declarations
//! and meta records; class reads and writes are in `classes.rs`, static
//! instances in `instances.rs`.
#![doc = include_str!("FORMAT.md")]

mod classes;
pub mod codec;
mod instances;
pub mod resolve;

use crate::error::Error;
use cim::{
    CimError, CimName, Class, Instance, ObjectPath, QualifierDecl, QualifierList, StatusCode,
};
use redb::{Database, ReadableTable, TableDefinition};
use resolve::Decls;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The repository file inside the state directory.
pub const FILE_NAME: &str = "repository.redb";
/// redb page cache size: small, since the class index and the answer caches
/// serve the hot paths and every cached page is resident memory (the start-up
/// scan of the class records would otherwise fill a larger one for good).
const CACHE_BYTES: usize = 1 << 20;
/// Upper bound on the encoded bytes of the instances kept decoded in the
/// instance cache (decoded they take a few times this), so that it stays
/// within the object manager's memory budget.
const INSTANCE_CACHE_BYTES: usize = 4 << 20;
/// The format version stored under `meta/format_version`.
pub const FORMAT_VERSION: u32 = 1;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const NAMESPACES: TableDefinition<&str, &str> = TableDefinition::new("namespaces");
const QUALIFIERS: TableDefinition<&str, &[u8]> = TableDefinition::new("qualifiers");
const CLASSES: TableDefinition<&str, &[u8]> = TableDefinition::new("classes");
const INSTANCES: TableDefinition<&str, &[u8]> = TableDefinition::new("instances");
const REFS: TableDefinition<&str, &[u8]> = TableDefinition::new("refs");

/// Separator inside table keys (never part of a CIM name or namespace).
const SEP: char = '\0';

/// The canonical (lowercase, slash-trimmed) key of a namespace name, with
/// `root/interop` folded onto `interop`.
pub fn namespace_key(ns: &str) -> String {
    let k = ns.trim_matches('/').to_ascii_lowercase();
    if k == "root/interop" {
        "interop".to_owned()
    } else {
        k
    }
}

/// What the index keeps of a class: enough to walk the hierarchy without
/// decoding or resolving it.
struct ClassEntry {
    /// The class name as declared.
    name: CimName,
    /// Lowercase superclass name.
    superclass: Option<String>,
    /// The class's own `Association` qualifier, when it declares one
    /// (otherwise it inherits its superclass's).
    association: Option<bool>,
}

/// An association class's reference properties: lowercase target class of
/// each (`None`: untyped reference).
type AssocRefs = Vec<(String, Vec<Option<String>>)>;

#[derive(Default)]
struct NsCache {
    /// The namespace as first spelled.
    name: String,
    /// The class index by lowercase name; resolved classes live in the
    /// bounded [`ClassCache`] and are rebuilt from the store on a miss.
    classes: HashMap<String, ClassEntry>,
    /// Direct subclasses by lowercase superclass name (sorted for stable output).
    children: HashMap<String, Vec<String>>,
    qualifiers: BTreeMap<String, QualifierDecl>,
    /// The reference targets of every association class, computed on the
    /// first association traversal and dropped on any schema change, so
    /// traversals resolve only the associations that can reach an object.
    assoc_refs: std::sync::OnceLock<AssocRefs>,
    /// `qualifiers` as resolution takes them, built on the first resolution
    /// and dropped with every qualifier change.
    decls: std::sync::OnceLock<Arc<Decls>>,
}

impl NsCache {
    /// True when class `k` is an association (its own or inherited qualifier).
    fn is_association(&self, k: &str) -> bool {
        let mut cur = self.classes.get(k);
        for _ in 0..256 {
            let Some(e) = cur else { return false };
            if let Some(a) = e.association {
                return a;
            }
            cur = e.superclass.as_ref().and_then(|s| self.classes.get(s));
        }
        false
    }

    fn decls(&self) -> Arc<Decls> {
        self.decls
            .get_or_init(|| {
                Arc::new(
                    self.qualifiers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            })
            .clone()
    }
    fn add_child(&mut self, sup: &str, sub: &str) {
        let v = self.children.entry(sup.to_owned()).or_default();
        if let Err(pos) = v.binary_search_by(|x| x.as_str().cmp(sub)) {
            v.insert(pos, sub.to_owned());
        }
    }
    fn remove_child(&mut self, sup: &str, sub: &str) {
        if let Some(v) = self.children.get_mut(sup) {
            v.retain(|x| x != sub);
        }
    }
    /// Lowercase names of every subclass of `class` (deep), parents before children.
    fn descendants(&self, class: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        out.extend(self.children.get(class).cloned().unwrap_or_default());
        while i < out.len() {
            if let Some(c) = self.children.get(&out[i]) {
                out.extend(c.iter().cloned());
            }
            i += 1;
        }
        out
    }
}

/// The bounded working set of resolved classes, least recently used
/// evicted first. Resolved classes carry every inherited element with its
/// qualifier text (a deep DMTF class takes tens of kilobytes), so holding all
/// of them would cost far more than the schema's size on disk.
///
/// Lookups are one hash probe per level (namespace, then class) without
/// building an owned key; recency is kept in a tick-ordered map, so a hit and
/// an eviction cost O(log bound) rather than a scan of every entry.
#[derive(Default)]
struct ClassCache {
    /// Resolved classes at most.
    bound: usize,
    tick: u64,
    /// By namespace key, then lowercase class name: the class and its last use.
    entries: HashMap<String, HashMap<String, (Arc<Class>, u64)>>,
    /// (namespace key, lowercase class name) by last use, oldest first.
    recency: BTreeMap<u64, (String, String)>,
}

impl ClassCache {
    fn get(&mut self, ns: &str, class: &str) -> Option<Arc<Class>> {
        let (c, t) = self.entries.get_mut(ns)?.get_mut(class)?;
        self.tick += 1;
        let key = self.recency.remove(t).expect("every entry has a recency");
        *t = self.tick;
        self.recency.insert(self.tick, key);
        Some(c.clone())
    }

    fn put(&mut self, ns: &str, class: &str, c: Arc<Class>) {
        if self.bound == 0 {
            return;
        }
        self.tick += 1;
        let tick = self.tick;
        let slot = self.entries.entry(ns.to_owned()).or_default();
        if let Some((old, t)) = slot.get_mut(class) {
            *old = c;
            let key = self.recency.remove(t).expect("every entry has a recency");
            *t = tick;
            self.recency.insert(tick, key);
            return;
        }
        slot.insert(class.to_owned(), (c, tick));
        self.recency.insert(tick, (ns.to_owned(), class.to_owned()));
        while self.recency.len() > self.bound {
            let Some((_, (n, k))) = self.recency.pop_first() else {
                break;
            };
            if let Some(m) = self.entries.get_mut(&n) {
                m.remove(&k);
            }
        }
    }

    /// Forgets every class of a namespace (a schema change there).
    fn forget_namespace(&mut self, ns: &str) {
        if self.entries.remove(ns).is_some() {
            self.recency.retain(|_, (n, _)| n != ns);
        }
    }

    /// Resolved classes held (all namespaces).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.recency.len()
    }
}

/// Default bound of the resolved-class working set (classes).
pub const DEFAULT_CLASS_CACHE: usize = 128;

/// Decoded stored instances of one class, shared by every reader.
pub type SharedInstances = Arc<Vec<Arc<Instance>>>;

/// The cache of decoded static instances by instance-key prefix
/// (namespace and lowercase class), bounded by [`INSTANCE_CACHE_BYTES`].
#[derive(Default)]
struct InstanceCache {
    /// Bumped (under this cache's lock) after every committed instance write.
    generation: u64,
    /// Entry and the encoded size of its records.
    entries: HashMap<String, (SharedInstances, usize)>,
    /// Sum of the entries' encoded sizes.
    bytes: usize,
}

impl InstanceCache {
    /// Drops the entry of one class after a committed write to it.
    fn invalidate(&mut self, prefix: &str) {
        self.generation = self.generation.wrapping_add(1);
        if let Some((_, b)) = self.entries.remove(prefix) {
            self.bytes -= b;
        }
    }

    /// Installs an entry read at `generation`, unless a write committed since
    /// (it may be stale) or it does not fit the bound.
    fn install(&mut self, generation: u64, prefix: String, v: SharedInstances, bytes: usize) {
        if generation != self.generation || bytes > INSTANCE_CACHE_BYTES {
            return;
        }
        if let Some((_, b)) = self.entries.remove(&prefix) {
            self.bytes -= b;
        }
        if self.bytes + bytes > INSTANCE_CACHE_BYTES {
            // Rarely reached (a few large classes): start over rather than
            // track recency.
            self.entries.clear();
            self.bytes = 0;
        }
        self.bytes += bytes;
        self.entries.insert(prefix, (v, bytes));
    }
}

/// The repository. Cheap to share behind the object manager's `Arc`.
pub struct Repository {
    db: Database,
    cache: RwLock<HashMap<String, NsCache>>,
    /// Resolved classes; locked only while holding `cache` (read or write),
    /// so a writer's invalidation and a reader's install never interleave.
    resolved: std::sync::Mutex<ClassCache>,
    /// Bumped under `cache`'s write lock by every schema change (class,
    /// qualifier declaration, namespace); rendered-answer caches compare it.
    schema_generation: std::sync::atomic::AtomicU64,
    instance_cache: std::sync::Mutex<InstanceCache>,
    /// While set, commits skip the fsync (redb `Durability::None`); the next
    /// durable commit persists them. Used while loading bundled MOF, whose
    /// completion marker is written durably last.
    bulk: std::sync::atomic::AtomicUsize,
}

/// `CIM_ERR_INVALID_NAMESPACE` for a namespace that does not exist.
fn no_namespace(ns: &str) -> CimError {
    CimError::new(
        StatusCode::InvalidNamespace,
        format!("namespace {ns:?} does not exist"),
    )
}

fn cim_err(e: Error) -> CimError {
    e.to_cim()
}

fn class_key(ns: &str, class: &str) -> String {
    format!("{ns}{SEP}{}", class.to_ascii_lowercase())
}

fn instance_prefix(ns: &str, class: &str) -> String {
    format!("{ns}{SEP}{}{SEP}", class.to_ascii_lowercase())
}

fn instance_key(ns: &str, path: &ObjectPath) -> String {
    format!(
        "{}{}",
        instance_prefix(ns, path.class_name.as_str()),
        path.local().canonical_key()
    )
}

/// Every reference-valued property of an instance, as target canonical keys.
fn reference_targets(inst: &Instance) -> Vec<String> {
    let mut out: Vec<String> = inst
        .properties
        .iter()
        .filter_map(|p| p.value.as_reference())
        .map(|r| r.local().canonical_key())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Compacts the repository file (no object manager may have it open): gives
/// back the free pages that many small commits leave, e.g. after a MOF load.
pub fn compact(path: &Path) -> Result<(), Error> {
    let mut db = redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|e| Error::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    db.compact().map_err(|e| Error::store("compact", e))?;
    Ok(())
}

fn ref_key(ns: &str, target: &str, inst_key: &str) -> String {
    format!("{ns}{SEP}{target}{SEP}{inst_key}")
}

/// Lowercase names of the classes below `class` (see [`Repository::subclass_names`]).
fn subclass_keys(
    nc: &NsCache,
    ns: &str,
    class: Option<&str>,
    deep: bool,
) -> Result<Vec<String>, CimError> {
    Ok(match class {
        Some(c) => {
            let k = c.to_ascii_lowercase();
            if !nc.classes.contains_key(&k) {
                return Err(CimError::new(
                    StatusCode::InvalidClass,
                    format!("class {c} does not exist in namespace {ns}"),
                ));
            }
            if deep {
                nc.descendants(&k)
            } else {
                nc.children.get(&k).cloned().unwrap_or_default()
            }
        }
        None => {
            let mut roots: Vec<String> = nc
                .classes
                .iter()
                .filter(|(_, c)| c.superclass.is_none())
                .map(|(k, _)| k.clone())
                .collect();
            roots.sort();
            if deep {
                let mut all = Vec::new();
                for r in roots {
                    let d = nc.descendants(&r);
                    all.push(r);
                    all.extend(d);
                }
                all
            } else {
                roots
            }
        }
    })
}

impl Repository {
    /// Opens or creates the repository file and loads the class index, with
    /// the default bound of the resolved-class cache.
    pub fn open(path: &Path) -> Result<Repository, Error> {
        Repository::open_with(path, DEFAULT_CLASS_CACHE)
    }

    /// [`Repository::open`] holding at most `class_cache` resolved classes.
    pub fn open_with(path: &Path, class_cache: usize) -> Result<Repository, Error> {
        // A small page cache: the class cache answers schema reads, and the
        // object manager must stay within its memory budget.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| Error::Open {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        // Create every table and the version record in one transaction.
        let txn = db.begin_write().map_err(|e| Error::store("open", e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| Error::store("open", e))?;
            let found = meta
                .get("format_version")
                .map_err(|e| Error::store("open", e))?
                .map(|v| v.value().to_vec());
            match found {
                None => {
                    meta.insert("format_version", FORMAT_VERSION.to_le_bytes().as_slice())
                        .map_err(|e| Error::store("open", e))?;
                }
                Some(v) => {
                    let found = v.try_into().map(u32::from_le_bytes).unwrap_or(u32::MAX);
                    if found != FORMAT_VERSION {
                        return Err(Error::FormatVersion {
                            found,
                            supported: FORMAT_VERSION,
                        });
                    }
                }
            }
            txn.open_table(NAMESPACES)
                .map_err(|e| Error::store("open", e))?;
            txn.open_table(QUALIFIERS)
                .map_err(|e| Error::store("open", e))?;
            txn.open_table(CLASSES)
                .map_err(|e| Error::store("open", e))?;
            txn.open_table(INSTANCES)
                .map_err(|e| Error::store("open", e))?;
            txn.open_table(REFS).map_err(|e| Error::store("open", e))?;
        }
        txn.commit().map_err(|e| Error::store("open", e))?;
        let repo = Repository {
            db,
            cache: RwLock::new(HashMap::new()),
            resolved: std::sync::Mutex::new(ClassCache {
                bound: class_cache,
                ..Default::default()
            }),
            schema_generation: Default::default(),
            instance_cache: Default::default(),
            bulk: std::sync::atomic::AtomicUsize::new(0),
        };
        repo.load_cache()?;
        Ok(repo)
    }

    fn load_cache(&self) -> Result<(), Error> {
        let rtx = self.db.begin_read().map_err(|e| Error::store("load", e))?;
        let mut cache: HashMap<String, NsCache> = HashMap::new();
        let t = rtx
            .open_table(NAMESPACES)
            .map_err(|e| Error::store("load", e))?;
        for row in t.iter().map_err(|e| Error::store("load", e))? {
            let (k, v) = row.map_err(|e| Error::store("load", e))?;
            cache.insert(
                k.value().to_owned(),
                NsCache {
                    name: v.value().to_owned(),
                    ..Default::default()
                },
            );
        }
        let t = rtx
            .open_table(QUALIFIERS)
            .map_err(|e| Error::store("load", e))?;
        for row in t.iter().map_err(|e| Error::store("load", e))? {
            let (k, v) = row.map_err(|e| Error::store("load", e))?;
            let key = k.value();
            let d = codec::decode_qualifier(v.value()).map_err(|e| corrupt(key, e))?;
            let (ns, _) = key.split_once(SEP).unwrap_or((key, ""));
            if let Some(c) = cache.get_mut(ns) {
                c.qualifiers.insert(d.name.to_lowercase(), d);
            }
        }
        // The class index: name and superclass of every class (the head of
        // its record); classes are resolved on demand.
        let t = rtx
            .open_table(CLASSES)
            .map_err(|e| Error::store("load", e))?;
        for row in t.iter().map_err(|e| Error::store("load", e))? {
            let (k, v) = row.map_err(|e| Error::store("load", e))?;
            let key = k.value();
            let (name, superclass, association) =
                codec::decode_class_head(v.value()).map_err(|e| corrupt(key, e))?;
            let (ns, _) = key.split_once(SEP).unwrap_or((key, ""));
            let Some(nc) = cache.get_mut(ns) else {
                continue;
            };
            let lk = name.to_lowercase();
            let superclass = superclass.map(|s| s.to_ascii_lowercase());
            if let Some(s) = &superclass {
                nc.add_child(s, &lk);
            }
            nc.classes.insert(
                lk,
                ClassEntry {
                    name,
                    superclass,
                    association,
                },
            );
        }
        for (ns, nc) in &cache {
            if let Some((k, e)) = nc.classes.iter().find(|(_, e)| {
                e.superclass
                    .as_ref()
                    .is_some_and(|s| !nc.classes.contains_key(s))
            }) {
                let _ = e;
                return Err(Error::Corrupt {
                    key: format!("{ns}/{k}"),
                    reason: "superclass missing from the repository".into(),
                });
            }
        }
        *self.write_cache() = cache;
        Ok(())
    }

    fn read_cache(&self) -> RwLockReadGuard<'_, HashMap<String, NsCache>> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, HashMap<String, NsCache>> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }

    // ----- namespaces -----

    /// The canonical key of an existing namespace, or `CIM_ERR_INVALID_NAMESPACE`.
    pub fn resolve_namespace(&self, ns: &str) -> Result<String, CimError> {
        let k = namespace_key(ns);
        if self.read_cache().contains_key(&k) {
            Ok(k)
        } else {
            Err(no_namespace(ns))
        }
    }

    /// Every namespace, as spelled when created, sorted.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v: Vec<String> = self.read_cache().values().map(|n| n.name.clone()).collect();
        v.sort();
        v
    }

    /// Creates a namespace (no error when it exists).
    pub fn create_namespace(&self, ns: &str) -> Result<(), Error> {
        let name = ns.trim_matches('/').to_owned();
        let k = namespace_key(&name);
        if name.is_empty()
            || name
                .split('/')
                .any(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(Error::Cim(CimError::invalid_parameter(format!(
                "{ns:?} is not a valid namespace name"
            ))));
        }
        let mut cache = self.write_cache();
        if cache.contains_key(&k) {
            return Ok(());
        }
        let name = if k == "interop" {
            "interop".to_owned()
        } else {
            name
        };
        self.write("create namespace", |txn| {
            txn.open_table(NAMESPACES)?
                .insert(k.as_str(), name.as_str())?;
            Ok(())
        })?;
        cache.insert(
            k.clone(),
            NsCache {
                name,
                ..Default::default()
            },
        );
        self.schema_changed(&k);
        Ok(())
    }

    /// Deletes a namespace without classes, with its qualifier declarations
    /// (`CIM_ERR_NAMESPACE_NOT_EMPTY` while it has classes).
    pub fn delete_namespace(&self, ns: &str) -> Result<(), CimError> {
        let k = self.resolve_namespace(ns)?;
        let mut cache = self.write_cache();
        let nc = cache.get(&k).ok_or_else(|| no_namespace(ns))?;
        if !nc.classes.is_empty() {
            return Err(CimError::new(
                StatusCode::NamespaceNotEmpty,
                format!("namespace {ns:?} still holds classes; delete them first"),
            ));
        }
        let quals: Vec<String> = nc.qualifiers.keys().map(|q| class_key(&k, q)).collect();
        let bundled_prefix = format!("bundled:{k}:");
        self.write("delete namespace", |txn| {
            txn.open_table(NAMESPACES)?.remove(k.as_str())?;
            let mut qt = txn.open_table(QUALIFIERS)?;
            for q in &quals {
                qt.remove(q.as_str())?;
            }
            let mut meta = txn.open_table(META)?;
            let stale: Vec<String> = meta
                .range(bundled_prefix.as_str()..)?
                .map_while(|r| r.ok().map(|(key, _)| key.value().to_owned()))
                .take_while(|key| key.starts_with(&bundled_prefix))
                .collect();
            for key in stale {
                meta.remove(key.as_str())?;
            }
            Ok(())
        })
        .map_err(cim_err)?;
        cache.remove(&k);
        self.schema_changed(&k);
        // Cached (empty) lists carry the namespace's spelling.
        let mut ic = self.lock_instance_cache();
        let stale: Vec<String> = ic
            .entries
            .keys()
            .filter(|p| p.split(SEP).next() == Some(k.as_str()))
            .cloned()
            .collect();
        for p in stale {
            ic.invalidate(&p);
        }
        Ok(())
    }

    /// Runs `f` in one write transaction and commits it.
    fn write<T>(
        &self,
        during: &'static str,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, WriteError>,
    ) -> Result<T, Error> {
        let mut txn = self.db.begin_write().map_err(|e| Error::store(during, e))?;
        if self.bulk.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            txn.set_durability(redb::Durability::None);
        }
        let out = match f(&txn) {
            Ok(v) => v,
            Err(WriteError::Cim(e)) => return Err(Error::Cim(e)),
            Err(WriteError::Store(s)) => return Err(Error::Store { during, reason: s }),
        };
        txn.commit().map_err(|e| Error::store(during, e))?;
        Ok(out)
    }

    /// Switches bulk mode (see the `bulk` field): commits made while it is on
    /// become durable with the next commit made while it is off.
    pub(crate) fn set_bulk(&self, on: bool) {
        // Nested users (a load that creates a namespace) count up and down.
        use std::sync::atomic::Ordering;
        if on {
            self.bulk.fetch_add(1, Ordering::Relaxed);
        } else {
            let _ = self
                .bulk
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    // ----- meta -----

    /// A value from the meta table.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let rtx = self.begin_read("read meta")?;
        let t = open_read(&rtx, META, "read meta")?;
        let v = t.get(key).map_err(|e| Error::store("read meta", e))?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    /// Sets a value in the meta table.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.write("write meta", |txn| {
            txn.open_table(META)?.insert(key, value)?;
            Ok(())
        })
    }

    // ----- qualifiers -----

    /// One qualifier declaration (`CIM_ERR_NOT_FOUND` when absent).
    pub fn qualifier(&self, ns: &str, name: &str) -> Result<QualifierDecl, CimError> {
        let cache = self.read_cache();
        cache
            .get(ns)
            .and_then(|n| n.qualifiers.get(&name.to_ascii_lowercase()))
            .cloned()
            .ok_or_else(|| {
                CimError::not_found(format!(
                    "qualifier {name} is not declared in namespace {ns}"
                ))
            })
    }

    /// Every qualifier declaration of a namespace, by name.
    pub fn qualifiers(&self, ns: &str) -> Vec<QualifierDecl> {
        self.read_cache()
            .get(ns)
            .map(|n| n.qualifiers.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Creates or replaces a qualifier declaration.
    pub fn set_qualifier(&self, ns: &str, decl: QualifierDecl) -> Result<(), CimError> {
        let mut cache = self.write_cache();
        let nc = cache.get_mut(ns).ok_or_else(|| no_namespace(ns))?;
        let key = class_key(ns, decl.name.as_str());
        let rec = codec::encode_qualifier(&decl);
        self.write("set qualifier", |txn| {
            txn.open_table(QUALIFIERS)?
                .insert(key.as_str(), rec.as_slice())?;
            Ok(())
        })
        .map_err(cim_err)?;
        nc.qualifiers.insert(decl.name.to_lowercase(), decl);
        nc.assoc_refs = Default::default();
        nc.decls = Default::default();
        self.schema_changed(ns);
        Ok(())
    }

    /// Deletes a qualifier declaration (`CIM_ERR_NOT_FOUND` when absent).
    pub fn delete_qualifier(&self, ns: &str, name: &str) -> Result<(), CimError> {
        let mut cache = self.write_cache();
        let nc = cache.get_mut(ns).ok_or_else(|| no_namespace(ns))?;
        let lk = name.to_ascii_lowercase();
        if !nc.qualifiers.contains_key(&lk) {
            return Err(CimError::not_found(format!(
                "qualifier {name} is not declared in namespace {ns}"
            )));
        }
        let key = class_key(ns, name);
        self.write("delete qualifier", |txn| {
            txn.open_table(QUALIFIERS)?.remove(key.as_str())?;
            Ok(())
        })
        .map_err(cim_err)?;
        nc.qualifiers.remove(&lk);
        nc.assoc_refs = Default::default();
        nc.decls = Default::default();
        self.schema_changed(ns);
        Ok(())
    }

    /// A read snapshot; `during` names the operation in store errors.
    fn begin_read(&self, during: &'static str) -> Result<redb::ReadTransaction, Error> {
        self.db.begin_read().map_err(|e| Error::store(during, e))
    }
}

/// A key/record table of a read snapshot (meta, instances, refs).
type RecordTable = redb::ReadOnlyTable<&'static str, &'static [u8]>;

/// Opens `table` in the snapshot; `during` names the operation in store errors.
fn open_read(
    rtx: &redb::ReadTransaction,
    table: TableDefinition<&str, &[u8]>,
    during: &'static str,
) -> Result<RecordTable, Error> {
    rtx.open_table(table).map_err(|e| Error::store(during, e))
}

/// Calls `visit` with the key and record of each row of `t` whose key starts
/// with `prefix`, in key order. Such rows are contiguous, so the scan stops
/// at the first key without the prefix; callers' prefixes end in [`SEP`], so
/// that one class or target never matches another whose name extends it.
fn scan_prefix(
    t: &RecordTable,
    prefix: &str,
    during: &'static str,
    mut visit: impl FnMut(&str, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    for row in t.range(prefix..).map_err(|e| Error::store(during, e))? {
        let (k, v) = row.map_err(|e| Error::store(during, e))?;
        if !k.value().starts_with(prefix) {
            break;
        }
        visit(k.value(), v.value())?;
    }
    Ok(())
}

/// The error for an undecodable record, naming its key with `/` for [`SEP`].
fn corrupt(key: &str, e: codec::DecodeError) -> Error {
    Error::Corrupt {
        key: key.replace(SEP, "/"),
        reason: e.0,
    }
}

enum Put {
    Create,
    Replace,
    Upsert,
}

/// A failure inside a write transaction: a CIM refusal (the transaction is
/// dropped, i.e. aborted) or a store error.
pub(crate) enum WriteError {
    Cim(CimError),
    Store(String),
}

macro_rules! store_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for WriteError {
            fn from(e: $t) -> Self {
                WriteError::Store(e.to_string())
            }
        }
    )*};
}
store_errors!(redb::StorageError, redb::TableError);

#[cfg(test)]
mod tests {
    use super::*;

    fn class(n: &str) -> Arc<Class> {
        Arc::new(Class::new(n, None))
    }

    #[test]
    fn class_cache_evicts_the_least_recently_used_and_stays_bounded() {
        let mut c = ClassCache {
            bound: 3,
            ..Default::default()
        };
        for n in ["a", "b", "c"] {
            c.put("ns", n, class(n));
        }
        // Touch "a": "b" is now the oldest.
        assert_eq!(c.get("ns", "a").unwrap().name.as_str(), "a");
        c.put("ns", "d", class("d"));
        assert!(c.get("ns", "b").is_none());
        assert_eq!(c.len(), 3);
        // Replacing an entry neither grows the set nor evicts.
        c.put("ns", "a", class("a2"));
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("ns", "a").unwrap().name.as_str(), "a2");
        assert!(c.get("ns", "c").is_some() && c.get("ns", "d").is_some());
        // Namespaces are apart; forgetting one keeps the other.
        c.put("other", "a", class("x"));
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("other", "a").unwrap().name.as_str(), "x");
        c.forget_namespace("ns");
        assert_eq!(c.len(), 1);
        assert!(c.get("ns", "a").is_none() && c.get("other", "a").is_some());
        for i in 0..100 {
            c.put("ns", &format!("k{i}"), class("k"));
            assert!(c.len() <= 3);
        }
        let zero = &mut ClassCache::default();
        zero.put("ns", "a", class("a"));
        assert!(zero.get("ns", "a").is_none());
    }
}
