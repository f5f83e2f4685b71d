//! Instances: top-level `instance of` declarations and embedded instance
//! values, checked against their class (property names, value types, keys,
//! abstract classes) and given their path and alias.

use super::{Element, MAX_EMBED_DEPTH};
use crate::compiler::{Compiler, FileCtx, Item, SrcPos};
use crate::diag::Error;
use crate::literal::to_value;
use crate::parser::{Pair, Rule};
use cim::{Instance, Property, QualifierList, Value};

impl Compiler<'_> {
    /// `[quals] instance of Class [as $Alias] { prop = value; ... };`
    pub(crate) fn lower_instance_decl(
        &mut self,
        f: &FileCtx<'_>,
        pair: Pair<'_>,
        quals: Option<Pair<'_>>,
    ) {
        let pos = f.pos(&pair);
        let raw = self.raw_qualifiers(f, quals);
        let qualifiers = self.apply_qualifiers(f, raw, Element::Instance);
        let ns = self.current_ns;
        if let Some(mut inst) = self.lower_instance_body(f, pair, Some(ns), true) {
            inst.qualifiers = qualifiers;
            self.announce(ns);
            self.items.push(Item::Instance(
                ns,
                Box::new(inst),
                SrcPos {
                    file: f.file,
                    pos: pos as u32,
                },
            ));
        }
    }

    /// The body shared by instance declarations and embedded instance values.
    /// `ns` set means a top-level instance: its path is computed and its alias registered.
    pub(super) fn lower_instance_body(
        &mut self,
        f: &FileCtx<'_>,
        pair: Pair<'_>,
        ns: Option<u32>,
        top: bool,
    ) -> Option<Instance> {
        if self.embed_depth >= MAX_EMBED_DEPTH {
            let pos = f.pos(&pair);
            self.error(
                f,
                pos,
                Error::Limit(format!(
                    "embedded instances nested deeper than {MAX_EMBED_DEPTH}"
                )),
            );
            return None;
        }
        self.embed_depth += 1;
        let r = self.lower_instance_inner(f, pair, ns, top);
        self.embed_depth -= 1;
        r
    }

    fn lower_instance_inner(
        &mut self,
        f: &FileCtx<'_>,
        pair: Pair<'_>,
        ns: Option<u32>,
        top: bool,
    ) -> Option<Instance> {
        let cur_ns = self.current_ns;
        let mut class_idx = None;
        let mut alias = None;
        let mut ok = true;
        let mut values = Vec::new();
        let decl_pos = f.pos(&pair);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::identifier => {
                    let cpos = f.pos(&p);
                    match self.lookup_class(cur_ns, p.as_str()) {
                        Some(i) => class_idx = Some(i),
                        None => {
                            self.error(f, cpos, Error::UndefinedClass(p.as_str().to_owned()));
                            return None;
                        }
                    }
                }
                Rule::alias => alias = Some((p.as_str().to_owned(), f.pos(&p))),
                Rule::property_value => values.push(p),
                _ => {}
            }
        }
        let class_idx = class_idx?;
        // A shared handle keeps the borrow checker out of the loop below.
        let class = self.resolved(class_idx);
        let mut inst = Instance::new(class.name.clone());
        for pv in values {
            let mut quals = None;
            let mut pname = None;
            let mut value = None;
            for p in pv.into_inner() {
                match p.as_rule() {
                    Rule::qualifier_list => quals = Some(p),
                    Rule::identifier => pname = Some((p.as_str(), f.pos(&p))),
                    Rule::init_value => value = Some(p),
                    _ => {}
                }
            }
            let (Some((pname, ppos)), Some(value)) = (pname, value) else {
                continue;
            };
            let raw = self.raw_qualifiers(f, quals);
            let qualifiers = self.apply_qualifiers(f, raw, Element::Instance);
            let Some(decl) = class.property(pname) else {
                self.error(
                    f,
                    ppos,
                    Error::Instance(format!("class {} has no property {pname}", class.name)),
                );
                ok = false;
                continue;
            };
            if inst.property(pname).is_some() {
                self.error(
                    f,
                    ppos,
                    Error::Instance(format!("property {pname} is given twice")),
                );
                ok = false;
                continue;
            }
            let Some(sp) = self.literal(f, value) else {
                ok = false;
                continue;
            };
            let v = match to_value(sp, &decl.ty, decl.is_array) {
                Ok(v) => v,
                Err((p, e)) => {
                    let e = match e {
                        Error::TypeMismatch(m) => {
                            Error::TypeMismatch(format!("property {}: {m}", decl.name))
                        }
                        other => other,
                    };
                    self.error(f, p, e);
                    ok = false;
                    continue;
                }
            };
            inst.properties.push(Property {
                name: decl.name.clone(),
                ty: decl.ty.clone(),
                is_array: decl.is_array,
                array_size: decl.array_size,
                value: v,
                qualifiers,
                class_origin: decl.class_origin.clone(),
                propagated: false,
            });
        }
        if top {
            // DSP0004: abstract classes have no instances, and keys identify an instance.
            if class.qualifiers.is_true("Abstract") {
                let pos = decl_pos;
                self.error(
                    f,
                    pos,
                    Error::Instance(format!(
                        "class {} is abstract and cannot have instances",
                        class.name
                    )),
                );
                ok = false;
            }
            for k in class.keys() {
                if inst.get(k.name.as_str()).is_none_or(Value::is_null) && k.value.is_null() {
                    let pos = decl_pos;
                    self.error(
                        f,
                        pos,
                        Error::Key(format!(
                            "instance of {} gives no value for key property {}",
                            class.name, k.name
                        )),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        if let (Some(ns), true) = (ns, top) {
            let path = inst.path_from_class(&class, Some(&self.namespaces[ns as usize]));
            if let Some((name, apos)) = alias {
                // DSP0004: an alias is unique within a compilation.
                let here = self.site(f, apos);
                let key = name.to_ascii_lowercase();
                if let Some(first) = self.alias_sites.get(&key) {
                    let msg = format!(
                        "alias {name} is defined twice: first at {first}, again at {here} (aliases must be unique within a compilation)"
                    );
                    self.error(f, apos, Error::Instance(msg));
                    return None;
                }
                self.alias_sites.insert(key.clone(), here);
                self.aliases.insert(key, path.clone());
            }
            inst.path = Some(path);
        }
        Some(inst)
    }
}
