//! Classes of the repository: reads through the index and the bounded
//! working set of resolved classes, hierarchy walks (`is_a`, subclasses,
//! associations reaching a class) that never resolve, and class writes, each
//! one redb transaction followed by the index update under the cache's write
//! lock (see the module docs of [`super`]).

use super::*;

impl Repository {
    /// A resolved class, shared (from the working set, or resolved from the
    /// store and its superclass chain).
    pub fn get_class(&self, ns: &str, name: &str) -> Option<Arc<Class>> {
        let cache = self.read_cache();
        let nc = cache.get(ns)?;
        match self.resolved_in(ns, nc, &name.to_ascii_lowercase()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(ns, class = name, error = %e, "cannot read class");
                None
            }
        }
    }

    pub(super) fn lock_resolved(&self) -> std::sync::MutexGuard<'_, ClassCache> {
        self.resolved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The resolved class `k` (lowercase) of namespace `ns`, whose index the
    /// caller holds locked: the working set's copy, or the declarations of
    /// the class and its uncached ancestors read from the store and resolved
    /// top down (each cached on the way).
    pub(super) fn resolved_in(
        &self,
        ns: &str,
        nc: &NsCache,
        k: &str,
    ) -> Result<Option<Arc<Class>>, Error> {
        if !nc.classes.contains_key(k) {
            return Ok(None);
        }
        if let Some(c) = self.lock_resolved().get(ns, k) {
            return Ok(Some(c));
        }
        let mut chain = vec![k.to_owned()];
        let mut base: Option<Arc<Class>> = None;
        while let Some(sup) = nc
            .classes
            .get(chain.last().expect("never empty"))
            .and_then(|e| e.superclass.clone())
        {
            if chain.len() > 256 || chain.contains(&sup) {
                return Err(Error::Corrupt {
                    key: format!("{ns}/{k}"),
                    reason: "superclass chain does not end".into(),
                });
            }
            if let Some(c) = self.lock_resolved().get(ns, &sup) {
                base = Some(c);
                break;
            }
            chain.push(sup);
        }
        let rtx = self.begin_read("read class")?;
        let t = open_read(&rtx, CLASSES, "read class")?;
        let qd = nc.decls();
        for c in chain.iter().rev() {
            let key = class_key(ns, c);
            let rec = t
                .get(key.as_str())
                .map_err(|e| Error::store("read class", e))?
                .ok_or_else(|| Error::Corrupt {
                    key: key.replace(SEP, "/"),
                    reason: "class in the index but not in the store".into(),
                })?;
            let decl = codec::decode_class(rec.value()).map_err(|e| corrupt(&key, e))?;
            let r = Arc::new(resolve::resolve(&decl, base.as_deref(), &qd));
            self.lock_resolved().put(ns, c, r.clone());
            base = Some(r);
        }
        Ok(base)
    }

    /// A resolved class, or `CIM_ERR_NOT_FOUND` naming it.
    pub fn class(&self, ns: &str, name: &str) -> Result<Arc<Class>, CimError> {
        self.get_class(ns, name).ok_or_else(|| {
            CimError::not_found(format!("class {name} does not exist in namespace {ns}"))
        })
    }

    /// A resolved class, or `CIM_ERR_INVALID_CLASS` naming it (for instance operations).
    pub fn class_for_instances(&self, ns: &str, name: &str) -> Result<Arc<Class>, CimError> {
        self.get_class(ns, name).ok_or_else(|| {
            CimError::new(
                StatusCode::InvalidClass,
                format!("class {name} does not exist in namespace {ns}"),
            )
        })
    }

    /// The counter every committed static-instance write bumps: a rendered
    /// enumeration of stored instances is still right while it holds its value.
    pub fn instance_generation(&self) -> u64 {
        self.lock_instance_cache().generation
    }

    /// The counter every schema change bumps (classes, qualifier
    /// declarations, namespaces): an answer rendered at one value is still
    /// right while the counter holds it.
    pub fn schema_generation(&self) -> u64 {
        self.schema_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records a schema change of namespace `ns` (call with `cache` write-locked).
    pub(super) fn schema_changed(&self, ns: &str) {
        self.lock_resolved().forget_namespace(ns);
        self.schema_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// True when `sub` is `sup` or one of its subclasses.
    pub fn is_a(&self, ns: &str, sub: &str, sup: &str) -> bool {
        let cache = self.read_cache();
        let Some(nc) = cache.get(ns) else {
            return false;
        };
        let mut cur = Some(sub.to_ascii_lowercase());
        let sup = sup.to_ascii_lowercase();
        let mut hops = 0;
        while let Some(c) = cur {
            if c == sup {
                return true;
            }
            hops += 1;
            if hops > 256 {
                return false;
            }
            cur = nc.classes.get(&c).and_then(|k| k.superclass.clone());
        }
        false
    }

    /// The association classes having a reference property that can point
    /// at an instance of `object_class` (its class or an ancestor, or an
    /// untyped reference), resolved. `CIM_ERR_INVALID_NAMESPACE` when the
    /// namespace does not exist.
    pub fn associations_reaching(
        &self,
        ns: &str,
        object_class: &str,
    ) -> Result<Vec<Arc<Class>>, CimError> {
        let cache = self.read_cache();
        let nc = cache.get(ns).ok_or_else(|| no_namespace(ns))?;
        let refs = match nc.assoc_refs.get() {
            Some(r) => r,
            None => {
                let mut keys: Vec<&String> =
                    nc.classes.keys().filter(|k| nc.is_association(k)).collect();
                keys.sort();
                let mut all = AssocRefs::new();
                for k in keys {
                    let Some(c) = self.resolved_in(ns, nc, k).map_err(cim_err)? else {
                        continue;
                    };
                    let targets = c
                        .properties
                        .iter()
                        .filter_map(|p| match &p.ty {
                            cim::CimType::Reference(t) => {
                                Some(t.as_ref().map(CimName::to_lowercase))
                            }
                            _ => None,
                        })
                        .collect();
                    all.push((k.clone(), targets));
                }
                nc.assoc_refs.get_or_init(|| all)
            }
        };
        let mut ancestors = Vec::new();
        let mut cur = Some(object_class.to_ascii_lowercase());
        while let Some(c) = cur {
            if ancestors.len() > 256 || ancestors.contains(&c) {
                break;
            }
            cur = nc.classes.get(&c).and_then(|e| e.superclass.clone());
            ancestors.push(c);
        }
        let mut out = Vec::new();
        for (k, targets) in refs {
            let reaches = targets
                .iter()
                .any(|t| t.as_ref().is_none_or(|t| ancestors.contains(t)));
            if reaches {
                if let Some(c) = self.resolved_in(ns, nc, k).map_err(cim_err)? {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    /// Names (as declared) of the classes below `class` (or the root classes
    /// when `None`): direct subclasses only, or every descendant when `deep`.
    /// Parents come before their children. From the index: nothing is resolved.
    pub fn subclass_names(
        &self,
        ns: &str,
        class: Option<&str>,
        deep: bool,
    ) -> Result<Vec<CimName>, CimError> {
        let cache = self.read_cache();
        let nc = cache.get(ns).ok_or_else(|| no_namespace(ns))?;
        Ok(subclass_keys(nc, ns, class, deep)?
            .iter()
            .filter_map(|k| nc.classes.get(k).map(|e| e.name.clone()))
            .collect())
    }

    /// The classes below `class` (or the root classes when `None`): direct
    /// subclasses only, or every descendant when `deep`. Parents come before
    /// their children.
    pub fn subclasses(
        &self,
        ns: &str,
        class: Option<&str>,
        deep: bool,
    ) -> Result<Vec<Arc<Class>>, CimError> {
        let cache = self.read_cache();
        let nc = cache.get(ns).ok_or_else(|| no_namespace(ns))?;
        let mut out = Vec::new();
        for k in subclass_keys(nc, ns, class, deep)? {
            if let Some(c) = self.resolved_in(ns, nc, &k).map_err(cim_err)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Every class of a namespace (parents before children).
    pub fn all_classes(&self, ns: &str) -> Vec<Arc<Class>> {
        self.subclasses(ns, None, true).unwrap_or_default()
    }

    /// Creates a class. Checks: not existing (`CIM_ERR_ALREADY_EXISTS`),
    /// superclass exists (`CIM_ERR_INVALID_SUPERCLASS`).
    pub fn create_class(&self, ns: &str, class: &Class) -> Result<(), CimError> {
        let decl = resolve::declaration_of(class);
        let mut cache = self.write_cache();
        let nc = cache.get_mut(ns).ok_or_else(|| no_namespace(ns))?;
        let k = decl.name.to_lowercase();
        if decl.name.as_str().is_empty() {
            return Err(CimError::invalid_parameter("the class has no name"));
        }
        if nc.classes.contains_key(&k) {
            return Err(CimError::new(
                StatusCode::AlreadyExists,
                format!("class {} already exists in namespace {ns}", decl.name),
            ));
        }
        let sup = match &decl.superclass {
            None => None,
            Some(s) => Some(
                self.resolved_in(ns, nc, &s.to_lowercase())
                    .map_err(cim_err)?
                    .ok_or_else(|| {
                        CimError::new(
                            StatusCode::InvalidSuperclass,
                            format!(
                                "superclass {s} of class {} does not exist in namespace {ns}",
                                decl.name
                            ),
                        )
                    })?,
            ),
        };
        let resolved = resolve::resolve(&decl, sup.as_deref(), &nc.decls());
        let key = class_key(ns, decl.name.as_str());
        let rec = codec::encode_class(&decl);
        self.write("create class", |txn| {
            txn.open_table(CLASSES)?
                .insert(key.as_str(), rec.as_slice())?;
            Ok(())
        })
        .map_err(cim_err)?;
        if let Some(s) = &decl.superclass {
            nc.add_child(&s.to_lowercase(), &k);
        }
        nc.classes.insert(
            k.clone(),
            ClassEntry {
                name: decl.name.clone(),
                superclass: decl.superclass.as_ref().map(CimName::to_lowercase),
                association: decl
                    .qualifiers
                    .find("Association")
                    .map(|_| decl.qualifiers.is_true("Association")),
            },
        );
        nc.assoc_refs = Default::default();
        self.schema_changed(ns);
        self.lock_resolved().put(ns, &k, Arc::new(resolved));
        Ok(())
    }

    /// Replaces a class declaration and re-resolves its subclasses. The
    /// superclass may not change (`CIM_ERR_INVALID_SUPERCLASS`); with
    /// `refuse_with_instances`, a class that (or a subclass of which) has
    /// static instances is refused (`CIM_ERR_CLASS_HAS_INSTANCES`, as
    /// OpenPegasus does for the class itself).
    pub fn modify_class(
        &self,
        ns: &str,
        class: &Class,
        refuse_with_instances: bool,
    ) -> Result<(), CimError> {
        let decl = resolve::declaration_of(class);
        let mut cache = self.write_cache();
        let nc = cache.get_mut(ns).ok_or_else(|| no_namespace(ns))?;
        let k = decl.name.to_lowercase();
        let old_super = nc
            .classes
            .get(&k)
            .ok_or_else(|| {
                CimError::not_found(format!(
                    "class {} does not exist in namespace {ns}",
                    decl.name
                ))
            })?
            .superclass
            .clone();
        if old_super != decl.superclass.as_ref().map(CimName::to_lowercase) {
            return Err(CimError::new(
                StatusCode::InvalidSuperclass,
                format!(
                    "the superclass of class {} cannot be changed by ModifyClass",
                    decl.name
                ),
            ));
        }
        if refuse_with_instances {
            // The class and its subclasses: their stored instances would no
            // longer match the resolved classes.
            let mut with_instances = None;
            for c in std::iter::once(k.clone()).chain(nc.descendants(&k)) {
                let name = nc.classes.get(&c).map(|x| x.name.as_str()).unwrap_or(&c);
                if self.count_instances(ns, name).map_err(cim_err)? > 0 {
                    with_instances = Some(name.to_owned());
                    break;
                }
            }
            if let Some(c) = with_instances {
                return Err(CimError::new(
                    StatusCode::ClassHasInstances,
                    format!(
                        "class {c} has instances; delete them before modifying class {}",
                        decl.name
                    ),
                ));
            }
        }
        let qd = nc.decls();
        let sup = match &decl.superclass {
            Some(s) => self
                .resolved_in(ns, nc, &s.to_lowercase())
                .map_err(cim_err)?,
            None => None,
        };
        let resolved = Arc::new(resolve::resolve(&decl, sup.as_deref(), &qd));
        let key = class_key(ns, decl.name.as_str());
        let rec = codec::encode_class(&decl);
        self.write("modify class", |txn| {
            txn.open_table(CLASSES)?
                .insert(key.as_str(), rec.as_slice())?;
            Ok(())
        })
        .map_err(cim_err)?;
        if let Some(e) = nc.classes.get_mut(&k) {
            e.association = decl
                .qualifiers
                .find("Association")
                .map(|_| decl.qualifiers.is_true("Association"));
        }
        // Subclasses are resolved again from their declarations on their
        // next use.
        nc.assoc_refs = Default::default();
        self.schema_changed(ns);
        self.lock_resolved().put(ns, &k, resolved);
        Ok(())
    }

    /// Deletes a class. Refused with `CIM_ERR_CLASS_HAS_CHILDREN` when it has
    /// subclasses (OpenPegasus behaviour) and `CIM_ERR_CLASS_HAS_INSTANCES`
    /// when it has static instances.
    pub fn delete_class(&self, ns: &str, name: &str) -> Result<(), CimError> {
        let mut cache = self.write_cache();
        let nc = cache.get_mut(ns).ok_or_else(|| no_namespace(ns))?;
        let k = name.to_ascii_lowercase();
        let old_super = nc
            .classes
            .get(&k)
            .ok_or_else(|| {
                CimError::not_found(format!("class {name} does not exist in namespace {ns}"))
            })?
            .superclass
            .clone();
        if nc.children.get(&k).is_some_and(|c| !c.is_empty()) {
            return Err(CimError::new(
                StatusCode::ClassHasChildren,
                format!("class {name} has subclasses; delete them first"),
            ));
        }
        let key = class_key(ns, name);
        let prefix = instance_prefix(ns, name);
        self.write("delete class", |txn| {
            let inst = txn.open_table(INSTANCES)?;
            let mut it = inst.range(prefix.as_str()..)?;
            if let Some(row) = it.next() {
                let (k, _) = row?;
                if k.value().starts_with(&prefix) {
                    return Err(WriteError::Cim(CimError::new(
                        StatusCode::ClassHasInstances,
                        format!("class {name} has instances; delete them first"),
                    )));
                }
            }
            txn.open_table(CLASSES)?.remove(key.as_str())?;
            Ok(())
        })
        .map_err(cim_err)?;
        if let Some(s) = &old_super {
            nc.remove_child(s, &k);
        }
        nc.children.remove(&k);
        nc.classes.remove(&k);
        nc.assoc_refs = Default::default();
        self.schema_changed(ns);
        self.lock_instance_cache()
            .invalidate(&instance_prefix(ns, name));
        Ok(())
    }
}
