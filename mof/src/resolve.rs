//! Inheritance (DSP0004 §5.1.2, §5.6.1): merges a class's local declarations
//! with its already-resolved superclass.
//!
//! * Inherited properties and methods come first, in the superclass's order,
//!   copied with `propagated = true` and their `class_origin` kept; a local
//!   declaration of the same name (with or without `Override`) takes the
//!   inherited one's place, with `class_origin` set to this class.
//! * Qualifiers with flavor ToSubclass propagate (marked `propagated`) unless
//!   given locally; Restricted ones do not. A local value for a qualifier that
//!   is DisableOverride in the superclass must equal the inherited value.
//! * `Override("X")` must name a feature of the superclass; overriding keeps
//!   the type (a reference may narrow its class).
//! * Association rules: an association has at least two references and does
//!   not derive from a non-association.
//!
//! Because classes arrive superclass-first, each class is resolved in one
//! pass against a superclass that is already complete (the compiler resolves
//! it again, from the same declarations, when it has left its working set).

use crate::diag::Error;
use cim::{Class, Method, Property, Qualifier, QualifierList, Value};

/// What a resolution error is about (indexes into the class's local lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    Class,
    Property(usize),
    Method(usize),
}

/// Resolves `local` (holding only its own features) against `sup`.
pub(crate) fn resolve(local: Class, sup: Option<&Class>) -> (Class, Vec<(At, Error)>) {
    let mut errs = Vec::new();
    let Class {
        name,
        superclass,
        qualifiers,
        properties,
        methods,
    } = local;
    let no_quals: &[Qualifier] = &[];
    let qualifiers = merge_qualifiers(
        qualifiers,
        sup.map_or(no_quals, |s| &s.qualifiers),
        &mut |e| errs.push((At::Class, e)),
    );

    // Properties.
    // DSP0004: once a class in the chain has keys, subclasses cannot add keys.
    let sup_has_keys = sup.is_some_and(|s| s.keys().next().is_some());
    let key_error = |p: &Property, s: Option<&Class>| {
        Error::Key(format!(
            "class {name} cannot add key property {}: superclass {} already has keys",
            p.name,
            s.map_or("?", |s| s.name.as_str())
        ))
    };
    let mut local_props: Vec<Option<Property>> = properties.into_iter().map(Some).collect();
    let mut props = Vec::with_capacity(local_props.len() + sup.map_or(0, |s| s.properties.len()));
    if let Some(s) = sup {
        for sp in &s.properties {
            let found = local_props
                .iter()
                .position(|p| p.as_ref().is_some_and(|p| p.name == sp.name));
            match found {
                Some(i) => {
                    let mut p = local_props[i].take().expect("position found a Some");
                    check_override_name(&p.qualifiers, p.name.as_str(), &mut |e| {
                        errs.push((At::Property(i), e))
                    });
                    let same_kind = p.is_array == sp.is_array
                        && (p.ty == sp.ty || (p.ty.is_reference() && sp.ty.is_reference()));
                    if !same_kind {
                        errs.push((
                            At::Property(i),
                            Error::TypeMismatch(format!(
                                "property {} overrides {}.{} with a different type",
                                p.name, s.name, sp.name
                            )),
                        ));
                    }
                    if sup_has_keys && p.is_key() && !sp.is_key() {
                        errs.push((At::Property(i), key_error(&p, sup)));
                    }
                    p.qualifiers = merge_qualifiers(
                        std::mem::take(&mut p.qualifiers),
                        &sp.qualifiers,
                        &mut |e| errs.push((At::Property(i), e)),
                    );
                    props.push(p);
                }
                None => props.push(inherit_property(sp)),
            }
        }
    }
    for (i, p) in local_props.into_iter().enumerate() {
        if let Some(p) = p {
            if sup_has_keys && p.is_key() {
                errs.push((At::Property(i), key_error(&p, sup)));
            }
            if let Some(o) = p.qualifiers.find("Override") {
                let target = o.value.as_str().unwrap_or(p.name.as_str());
                errs.push((
                    At::Property(i),
                    Error::BadOverride(match sup {
                        Some(s) => format!(
                            "Override({target:?}): superclass {} has no property {target}",
                            s.name
                        ),
                        None => {
                            format!("Override({target:?}) in class {name}, which has no superclass")
                        }
                    }),
                ));
            }
            props.push(p);
        }
    }

    // Methods.
    let mut local_meths: Vec<Option<Method>> = methods.into_iter().map(Some).collect();
    let mut meths = Vec::with_capacity(local_meths.len() + sup.map_or(0, |s| s.methods.len()));
    if let Some(s) = sup {
        for sm in &s.methods {
            let found = local_meths
                .iter()
                .position(|m| m.as_ref().is_some_and(|m| m.name == sm.name));
            match found {
                Some(i) => {
                    let mut m = local_meths[i].take().expect("position found a Some");
                    check_override_name(&m.qualifiers, m.name.as_str(), &mut |e| {
                        errs.push((At::Method(i), e))
                    });
                    if m.return_type != sm.return_type
                        && !(m.return_type.is_reference() && sm.return_type.is_reference())
                    {
                        errs.push((
                            At::Method(i),
                            Error::TypeMismatch(format!(
                                "method {} overrides {}.{} with a different return type",
                                m.name, s.name, sm.name
                            )),
                        ));
                    }
                    m.qualifiers = merge_qualifiers(
                        std::mem::take(&mut m.qualifiers),
                        &sm.qualifiers,
                        &mut |e| errs.push((At::Method(i), e)),
                    );
                    for p in &mut m.parameters {
                        if let Some(sp) = sm.parameters.iter().find(|q| q.name == p.name) {
                            p.qualifiers = merge_qualifiers(
                                std::mem::take(&mut p.qualifiers),
                                &sp.qualifiers,
                                &mut |e| errs.push((At::Method(i), e)),
                            );
                        }
                    }
                    meths.push(m);
                }
                None => meths.push(inherit_method(sm)),
            }
        }
    }
    for (i, m) in local_meths.into_iter().enumerate() {
        if let Some(m) = m {
            if let Some(o) = m.qualifiers.find("Override") {
                let target = o.value.as_str().unwrap_or(m.name.as_str());
                errs.push((
                    At::Method(i),
                    Error::BadOverride(match sup {
                        Some(s) => format!(
                            "Override({target:?}): superclass {} has no method {target}",
                            s.name
                        ),
                        None => {
                            format!("Override({target:?}) in class {name}, which has no superclass")
                        }
                    }),
                ));
            }
            meths.push(m);
        }
    }

    let class = Class {
        name,
        superclass,
        qualifiers,
        properties: props,
        methods: meths,
    };
    if class.is_association() {
        let refs = class
            .properties
            .iter()
            .filter(|p| p.ty.is_reference())
            .count();
        if refs < 2 {
            errs.push((
                At::Class,
                Error::Association(format!(
                    "association {} has {refs} reference(s); an association needs at least two",
                    class.name
                )),
            ));
        }
        if let Some(s) = sup.filter(|s| !s.is_association()) {
            errs.push((
                At::Class,
                Error::Association(format!(
                    "association {} cannot derive from {}, which is not an association",
                    class.name, s.name
                )),
            ));
        }
    }
    (class, errs)
}

/// `Override("X")` on a feature named Y overriding a superclass feature Y: X must be Y.
fn check_override_name(quals: &[Qualifier], name: &str, report: &mut dyn FnMut(Error)) {
    if let Some(Value::String(target)) = quals.find("Override").map(|q| &q.value) {
        if !target.eq_ignore_ascii_case(name) {
            report(Error::BadOverride(format!(
                "Override({target:?}) on {name}: renaming overrides are not supported; name the feature {target}"
            )));
        }
    }
}

/// Local qualifiers first, then the inherited ToSubclass ones not given locally.
fn merge_qualifiers(
    local: Vec<Qualifier>,
    inherited: &[Qualifier],
    report: &mut dyn FnMut(Error),
) -> Vec<Qualifier> {
    if inherited.is_empty() {
        return local;
    }
    let n = local.len();
    let mut out = local;
    // Exact room for what will be added: the model is large, slack is not free.
    let adds = inherited
        .iter()
        .filter(|iq| iq.flavors.to_subclass && !out.iter().any(|q| q.name == iq.name))
        .count();
    out.reserve_exact(adds);
    for iq in inherited.iter().filter(|q| q.flavors.to_subclass) {
        match out[..n].iter().find(|q| q.name == iq.name) {
            Some(lq) => {
                if !iq.flavors.overridable && lq.value != iq.value {
                    report(Error::QualifierOverride(iq.name.to_string()));
                }
            }
            None => {
                let mut q = iq.clone();
                q.propagated = true;
                out.push(q);
            }
        }
    }
    out
}

fn inherit_qualifiers(quals: &[Qualifier]) -> Vec<Qualifier> {
    // Sized exactly: a filtered collect would grow (and copy) several times.
    let mut out = Vec::with_capacity(quals.iter().filter(|q| q.flavors.to_subclass).count());
    for q in quals.iter().filter(|q| q.flavors.to_subclass) {
        let mut q = q.clone();
        q.propagated = true;
        out.push(q);
    }
    out
}

fn inherit_property(p: &Property) -> Property {
    Property {
        name: p.name.clone(),
        ty: p.ty.clone(),
        is_array: p.is_array,
        array_size: p.array_size,
        value: p.value.clone(),
        qualifiers: inherit_qualifiers(&p.qualifiers),
        class_origin: p.class_origin.clone(),
        propagated: true,
    }
}

fn inherit_method(m: &Method) -> Method {
    Method {
        name: m.name.clone(),
        return_type: m.return_type.clone(),
        parameters: m
            .parameters
            .iter()
            .map(|p| cim::Parameter {
                name: p.name.clone(),
                ty: p.ty.clone(),
                is_array: p.is_array,
                array_size: p.array_size,
                qualifiers: inherit_qualifiers(&p.qualifiers),
            })
            .collect(),
        qualifiers: inherit_qualifiers(&m.qualifiers),
        class_origin: m.class_origin.clone(),
        propagated: true,
    }
}
