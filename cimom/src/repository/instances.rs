//! Static instances of the repository: reads (one instance, all of a class,
//! shared through the decoded-instance cache), writes (create, replace,
//! upsert, delete; each one redb transaction keeping the reference index in
//! step) and the reverse reference lookup (`referencing`).

use super::*;

impl Repository {
    /// The stored instance with this path (its `path` set, namespace included).
    pub fn get_instance(&self, ns: &str, path: &ObjectPath) -> Result<Option<Instance>, Error> {
        let key = instance_key(ns, path);
        let rtx = self.begin_read("get instance")?;
        let t = open_read(&rtx, INSTANCES, "get instance")?;
        let Some(v) = t
            .get(key.as_str())
            .map_err(|e| Error::store("get instance", e))?
        else {
            return Ok(None);
        };
        let mut i =
            codec::decode_instance(v.value()).map_err(|e| Error::Corrupt { key, reason: e.0 })?;
        self.set_ns(ns, &mut i);
        Ok(Some(i))
    }

    pub(super) fn set_ns(&self, ns: &str, i: &mut Instance) {
        if let Some(p) = &mut i.path {
            p.namespace = Some(self.namespace_name(ns));
        }
    }

    /// The spelling of a namespace key.
    pub fn namespace_name(&self, ns: &str) -> String {
        self.read_cache()
            .get(ns)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| ns.to_owned())
    }

    /// Every stored instance of exactly `class` (a copy of the shared list,
    /// see [`Repository::shared_instances_of`]).
    pub fn instances_of(&self, ns: &str, class: &str) -> Result<Vec<Instance>, Error> {
        Ok(self
            .shared_instances_of(ns, class)?
            .iter()
            .map(|i| Instance::clone(i))
            .collect())
    }

    pub(super) fn lock_instance_cache(&self) -> std::sync::MutexGuard<'_, InstanceCache> {
        self.instance_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Every stored instance of exactly `class`, with paths (namespace set),
    /// shared: served from the instance cache, or decoded from the store and
    /// cached when no write committed meanwhile.
    pub fn shared_instances_of(&self, ns: &str, class: &str) -> Result<SharedInstances, Error> {
        const DURING: &str = "enumerate instances";
        let prefix = instance_prefix(ns, class);
        let generation = {
            let c = self.lock_instance_cache();
            if let Some((v, _)) = c.entries.get(&prefix) {
                return Ok(v.clone());
            }
            c.generation
        };
        // The snapshot begins after `generation` was read: a write that
        // commits after it bumps the generation, so what is read here is
        // installed only if no write could have made it stale.
        let rtx = self.begin_read(DURING)?;
        let t = open_read(&rtx, INSTANCES, DURING)?;
        let nsname = self.namespace_name(ns);
        let mut out = Vec::new();
        let mut bytes = 0;
        scan_prefix(&t, &prefix, DURING, |key, rec| {
            bytes += key.len() + rec.len();
            let mut i = codec::decode_instance(rec).map_err(|e| corrupt(key, e))?;
            if let Some(p) = &mut i.path {
                p.namespace = Some(nsname.clone());
            }
            out.push(Arc::new(i));
            Ok(())
        })?;
        let out = Arc::new(out);
        self.lock_instance_cache()
            .install(generation, prefix, out.clone(), bytes);
        Ok(out)
    }

    /// The paths of every stored instance of exactly `class`, without
    /// decoding their properties (EnumerateInstanceNames).
    pub fn instance_paths_of(&self, ns: &str, class: &str) -> Result<Vec<ObjectPath>, Error> {
        const DURING: &str = "enumerate instance names";
        let rtx = self.begin_read(DURING)?;
        let t = open_read(&rtx, INSTANCES, DURING)?;
        let nsname = self.namespace_name(ns);
        let mut out = Vec::new();
        scan_prefix(&t, &instance_prefix(ns, class), DURING, |key, rec| {
            let p = codec::decode_instance_path(rec).map_err(|e| corrupt(key, e))?;
            if let Some(mut p) = p {
                p.namespace = Some(nsname.clone());
                out.push(p);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// How many stored instances `class` has (exactly that class).
    pub fn count_instances(&self, ns: &str, class: &str) -> Result<usize, Error> {
        const DURING: &str = "count instances";
        let rtx = self.begin_read(DURING)?;
        let t = open_read(&rtx, INSTANCES, DURING)?;
        let mut n = 0;
        scan_prefix(&t, &instance_prefix(ns, class), DURING, |_, _| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// Stores a new instance (`instance.path` must be set);
    /// `CIM_ERR_ALREADY_EXISTS` when one with that path exists.
    pub fn create_instance(&self, ns: &str, instance: &Instance) -> Result<(), CimError> {
        self.put_instance(ns, instance, Put::Create)
    }

    /// Replaces a stored instance; `CIM_ERR_NOT_FOUND` when absent.
    pub fn replace_instance(&self, ns: &str, instance: &Instance) -> Result<(), CimError> {
        self.put_instance(ns, instance, Put::Replace)
    }

    /// Stores an instance whether or not it exists (MOF loading).
    pub fn upsert_instance(&self, ns: &str, instance: &Instance) -> Result<(), CimError> {
        self.put_instance(ns, instance, Put::Upsert)
    }

    pub(super) fn put_instance(
        &self,
        ns: &str,
        instance: &Instance,
        mode: Put,
    ) -> Result<(), CimError> {
        let path = instance
            .path
            .as_ref()
            .ok_or_else(|| CimError::invalid_parameter("the instance has no path"))?
            .local();
        let key = instance_key(ns, &path);
        let mut stored = instance.clone();
        stored.path = Some(path.clone());
        let rec = codec::encode_instance(&stored);
        let new_refs = reference_targets(&stored);
        // Hold the cache read lock so the class cannot be deleted meanwhile.
        let _guard = self.read_cache();
        let done = self
            .write("write instance", |txn| {
                let mut t = txn.open_table(INSTANCES)?;
                let old = t.get(key.as_str())?.map(|v| v.value().to_vec());
                match (&mode, &old) {
                    (Put::Create, Some(_)) => {
                        return Err(WriteError::Cim(CimError::new(
                            StatusCode::AlreadyExists,
                            format!("instance {path} already exists"),
                        )))
                    }
                    (Put::Replace, None) => {
                        return Err(WriteError::Cim(CimError::not_found(format!(
                            "instance {path} does not exist"
                        ))))
                    }
                    _ => {}
                }
                let old_refs = match &old {
                    Some(b) => codec::decode_instance(b)
                        .map(|i| reference_targets(&i))
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                t.insert(key.as_str(), rec.as_slice())?;
                let mut r = txn.open_table(REFS)?;
                for target in &old_refs {
                    r.remove(ref_key(ns, target, &key).as_str())?;
                }
                for target in &new_refs {
                    r.insert(ref_key(ns, target, &key).as_str(), [].as_slice())?;
                }
                Ok(())
            })
            .map_err(cim_err);
        // Also after a failed write: a commit error may leave either state.
        self.lock_instance_cache()
            .invalidate(&instance_prefix(ns, path.class_name.as_str()));
        done
    }

    /// Deletes a stored instance; `CIM_ERR_NOT_FOUND` when absent.
    pub fn delete_instance(&self, ns: &str, path: &ObjectPath) -> Result<Instance, CimError> {
        let key = instance_key(ns, path);
        let shown = path.local();
        let old = self
            .write("delete instance", |txn| {
                let mut t = txn.open_table(INSTANCES)?;
                let old = t
                    .remove(key.as_str())?
                    .map(|v| v.value().to_vec())
                    .ok_or_else(|| {
                        WriteError::Cim(CimError::not_found(format!(
                            "instance {shown} does not exist"
                        )))
                    })?;
                let old = codec::decode_instance(&old)
                    .map_err(|e| WriteError::Store(format!("corrupt record {key:?}: {e}")))?;
                let mut r = txn.open_table(REFS)?;
                for target in reference_targets(&old) {
                    r.remove(ref_key(ns, &target, &key).as_str())?;
                }
                Ok(old)
            })
            .map_err(cim_err);
        // Also after a failed write: a commit error may leave either state.
        self.lock_instance_cache()
            .invalidate(&instance_prefix(ns, path.class_name.as_str()));
        old
    }

    /// Every stored instance (of any class) with a reference property
    /// pointing at `target` (compared without host and namespace), found
    /// through the reference index.
    pub fn referencing(&self, ns: &str, target: &ObjectPath) -> Result<Vec<Instance>, Error> {
        const DURING: &str = "references";
        let prefix = format!("{ns}{SEP}{}{SEP}", target.local().canonical_key());
        // One snapshot for the index and the instances it names.
        let rtx = self.begin_read(DURING)?;
        let r = open_read(&rtx, REFS, DURING)?;
        let t = open_read(&rtx, INSTANCES, DURING)?;
        let nsname = self.namespace_name(ns);
        let mut out = Vec::new();
        scan_prefix(&r, &prefix, DURING, |ref_key, _| {
            // A refs key is the target's prefix followed by the instance key.
            let inst_key = &ref_key[prefix.len()..];
            if let Some(v) = t.get(inst_key).map_err(|e| Error::store(DURING, e))? {
                let mut i = codec::decode_instance(v.value()).map_err(|e| corrupt(inst_key, e))?;
                if let Some(p) = &mut i.path {
                    p.namespace = Some(nsname.clone());
                }
                out.push(i);
            }
            Ok(())
        })?;
        Ok(out)
    }
}
