//! Shaping of returned objects per DSP0200 §5.3.2: `LocalOnly`,
//! `IncludeQualifiers`, `IncludeClassOrigin`, `PropertyList` and
//! `DeepInheritance` (for instances: properties of the requested class only).
//!
//! `LocalOnly` is ignored for instance operations, as OpenPegasus does and as
//! DSP0200 1.4 recommends for this deprecated parameter (a `true` default
//! would hide inherited keys from clients that never ask for it).

use cim::{CimName, Class, Instance};

/// Shapes a class for GetClass / EnumerateClasses.
pub fn class(
    c: &Class,
    local_only: bool,
    include_qualifiers: bool,
    include_class_origin: bool,
    property_list: Option<&[CimName]>,
) -> Class {
    let mut out = Class {
        name: c.name.clone(),
        superclass: c.superclass.clone(),
        qualifiers: Vec::new(),
        properties: Vec::with_capacity(c.properties.len()),
        methods: Vec::with_capacity(c.methods.len()),
    };
    if include_qualifiers {
        out.qualifiers = c
            .qualifiers
            .iter()
            .filter(|q| !local_only || !q.propagated)
            .cloned()
            .collect();
    }
    for p in &c.properties {
        if local_only && p.propagated {
            continue;
        }
        if property_list.is_some_and(|l| !l.contains(&p.name)) {
            continue;
        }
        let mut p = p.clone();
        if !include_qualifiers {
            p.qualifiers.clear();
        }
        if !include_class_origin {
            p.class_origin = None;
        }
        out.properties.push(p);
    }
    for m in &c.methods {
        if local_only && m.propagated {
            continue;
        }
        let mut m = m.clone();
        if !include_qualifiers {
            m.qualifiers.clear();
            for p in &mut m.parameters {
                p.qualifiers.clear();
            }
        }
        if !include_class_origin {
            m.class_origin = None;
        }
        out.methods.push(m);
    }
    out
}

/// How to shape returned instances.
#[derive(Debug, Clone, Default)]
pub struct InstanceShape<'a> {
    /// `IncludeQualifiers`: copy the class's property qualifiers onto the
    /// instance's properties (deprecated in DSP0200, honoured anyway).
    pub include_qualifiers: bool,
    /// `IncludeClassOrigin`.
    pub include_class_origin: bool,
    /// `PropertyList` (`None` = all).
    pub property_list: Option<&'a [CimName]>,
    /// With `DeepInheritance=false`: only properties of this class.
    pub restrict_to: Option<&'a Class>,
}

impl InstanceShape<'_> {
    /// True when [`InstanceShape::apply`] would leave `inst` as it is, so
    /// that a shared instance can be returned without a copy. Checks without
    /// allocating.
    pub fn leaves_unchanged(&self, inst: &Instance) -> bool {
        if self.property_list.is_some() || self.include_qualifiers || self.include_class_origin {
            return false;
        }
        inst.qualifiers.is_empty()
            && inst.properties.iter().all(|p| {
                p.qualifiers.is_empty()
                    && p.class_origin.is_none()
                    && !p.propagated
                    && self
                        .restrict_to
                        .is_none_or(|c| c.property(p.name.as_str()).is_some())
            })
    }

    /// Shapes an instance of `class` in place.
    pub fn apply(&self, inst: &mut Instance, class: Option<&Class>) {
        let restrict = self.restrict_to;
        if self.property_list.is_some() || restrict.is_some() {
            inst.properties.retain(|p| {
                self.property_list.is_none_or(|l| l.contains(&p.name))
                    && restrict.is_none_or(|c| c.property(p.name.as_str()).is_some())
            });
        }
        if !self.include_qualifiers && !self.include_class_origin {
            // The common case (EnumerateInstances defaults): nothing to look
            // up in the class; this loop allocates nothing.
            for p in &mut inst.properties {
                p.qualifiers.clear();
                p.class_origin = None;
                p.propagated = false;
            }
            inst.qualifiers.clear();
            return;
        }
        for (i, p) in inst.properties.iter_mut().enumerate() {
            // Stored and provider instances usually list properties in class
            // order: try the same position before searching by name.
            let decl = class.and_then(|c| match c.properties.get(i) {
                Some(d) if d.name == p.name => Some(d),
                _ => c.property(p.name.as_str()),
            });
            p.qualifiers = if self.include_qualifiers {
                decl.map(|d| d.qualifiers.clone()).unwrap_or_default()
            } else {
                Vec::new()
            };
            p.class_origin = if self.include_class_origin {
                decl.and_then(|d| d.class_origin.clone())
            } else {
                None
            };
            // PROPAGATED is a class notion; instances report it false (as SFCB does).
            p.propagated = false;
        }
        if !self.include_qualifiers {
            inst.qualifiers.clear();
        }
    }
}
