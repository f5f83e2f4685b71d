//! Class resolution: a class *declaration* (only what it declares or
//! overrides) plus its resolved superclass gives the *resolved* class with
//! every inherited property, method and qualifier, marked `propagated`.
//!
//! Rules (DSP0004 §5.1.2.x, §5.6.1):
//! * inherited properties and methods come first, in the superclass order,
//!   with overrides replacing them in place; new ones follow in declaration order;
//! * the class origin of a declared or overriding element is the declaring class;
//! * a qualifier is inherited when its flavor is `ToSubclass` (the declaration's
//!   flavor when the qualifier itself carries only default flavors); a local
//!   qualifier of the same name overrides it.

use cim::{CimName, Class, Flavors, Qualifier, QualifierDecl};
use std::collections::HashMap;

/// Qualifier declarations by lowercase name.
pub type Decls = HashMap<String, QualifierDecl>;

/// Applies the declaration's flavors (and type) to qualifiers that carry
/// only the default flavors, so `Abstract`, `Override` etc. stay restricted.
pub fn apply_decl_flavors(qs: &mut [Qualifier], decls: &Decls) {
    for q in qs {
        if let Some(d) = decls.get(&q.name.to_lowercase()) {
            if q.flavors == Flavors::default() {
                q.flavors = d.flavors;
            }
        }
    }
}

fn inherit_qualifiers(local: &[Qualifier], inherited: &[Qualifier]) -> Vec<Qualifier> {
    let mut out: Vec<Qualifier> = local.iter().filter(|q| !q.propagated).cloned().collect();
    for q in inherited {
        if q.flavors.to_subclass && !out.iter().any(|l| l.name == q.name) {
            let mut q = q.clone();
            q.propagated = true;
            out.push(q);
        }
    }
    out
}

/// The declaration part of a (resolved or wire) class: elements not marked
/// propagated, with their propagated qualifiers removed.
pub fn declaration_of(c: &Class) -> Class {
    let strip = |qs: &[Qualifier]| {
        qs.iter()
            .filter(|q| !q.propagated)
            .cloned()
            .collect::<Vec<_>>()
    };
    Class {
        name: c.name.clone(),
        superclass: c.superclass.clone(),
        qualifiers: strip(&c.qualifiers),
        properties: c
            .properties
            .iter()
            .filter(|p| !p.propagated)
            .map(|p| {
                let mut p = p.clone();
                p.qualifiers = strip(&p.qualifiers);
                p.class_origin = None;
                p
            })
            .collect(),
        methods: c
            .methods
            .iter()
            .filter(|m| !m.propagated)
            .map(|m| {
                let mut m = m.clone();
                m.qualifiers = strip(&m.qualifiers);
                m.class_origin = None;
                m
            })
            .collect(),
    }
}

/// Resolves a declaration against its resolved superclass.
pub fn resolve(decl: &Class, sup: Option<&Class>, decls: &Decls) -> Class {
    let origin = Some(decl.name.clone());
    let mut qualifiers = decl.qualifiers.clone();
    apply_decl_flavors(&mut qualifiers, decls);
    let mut out = Class {
        name: decl.name.clone(),
        superclass: decl.superclass.clone(),
        qualifiers: inherit_qualifiers(
            &qualifiers,
            sup.map(|s| s.qualifiers.as_slice()).unwrap_or(&[]),
        ),
        properties: Vec::new(),
        methods: Vec::new(),
    };
    if let Some(s) = sup {
        for p in &s.properties {
            let mut p = p.clone();
            p.propagated = true;
            p.qualifiers = inherit_qualifiers(&[], &p.qualifiers);
            out.properties.push(p);
        }
        for m in &s.methods {
            let mut m = m.clone();
            m.propagated = true;
            m.qualifiers = inherit_qualifiers(&[], &m.qualifiers);
            out.methods.push(m);
        }
    }
    for p in &decl.properties {
        let mut p = p.clone();
        apply_decl_flavors(&mut p.qualifiers, decls);
        p.propagated = false;
        p.class_origin = origin.clone();
        match out.properties.iter_mut().find(|x| x.name == p.name) {
            Some(slot) => {
                p.qualifiers = inherit_qualifiers(&p.qualifiers, &slot.qualifiers);
                *slot = p;
            }
            None => out.properties.push(p),
        }
    }
    for m in &decl.methods {
        let mut m = m.clone();
        apply_decl_flavors(&mut m.qualifiers, decls);
        m.propagated = false;
        m.class_origin = origin.clone();
        match out.methods.iter_mut().find(|x| x.name == m.name) {
            Some(slot) => {
                m.qualifiers = inherit_qualifiers(&m.qualifiers, &slot.qualifiers);
                *slot = m;
            }
            None => out.methods.push(m),
        }
    }
    out
}

/// Lowercase key of a class name.
pub fn key(name: &CimName) -> String {
    name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cim::{CimType, Property, Value};

    #[test]
    fn inherits_and_overrides() {
        let mut base = Class::new("A", None);
        base.qualifiers.push(Qualifier::new(
            "Description",
            CimType::String,
            Value::String("a".into()),
        ));
        let mut abs = Qualifier::flag("Abstract");
        abs.flavors.to_subclass = false;
        base.qualifiers.push(abs);
        let mut k = Property::new("Name", CimType::String, Value::Null);
        k.qualifiers.push(Qualifier::flag("Key"));
        base.properties.push(k);
        base.properties
            .push(Property::new("X", CimType::Uint32, Value::Uint32(1)));
        let base = resolve(&base, None, &Decls::new());
        assert_eq!(
            base.properties[0].class_origin.as_ref().unwrap().as_str(),
            "A"
        );

        let mut sub = Class::new("B", Some("A".into()));
        sub.properties
            .push(Property::new("X", CimType::Uint32, Value::Uint32(2)));
        sub.properties
            .push(Property::new("Y", CimType::String, Value::Null));
        let r = resolve(&sub, Some(&base), &Decls::new());
        let names: Vec<_> = r.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Name", "X", "Y"]);
        assert!(r.properties[0].propagated && r.properties[0].is_key());
        assert!(!r.properties[1].propagated);
        assert_eq!(r.properties[1].value, Value::Uint32(2));
        assert_eq!(r.properties[1].class_origin.as_ref().unwrap().as_str(), "B");
        assert!(r
            .qualifiers
            .iter()
            .any(|q| q.name.is("Description") && q.propagated));
        assert!(!r.qualifiers.iter().any(|q| q.name.is("Abstract")));
        let d = declaration_of(&r);
        assert_eq!(d.properties.len(), 2);
        assert!(d.qualifiers.is_empty());
    }
}
