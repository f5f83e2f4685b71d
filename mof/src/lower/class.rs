//! Classes: lowers `[quals] class Name : Super { features };` in named steps
//! (read the header, find the superclass, decide the kind, apply the class
//! qualifiers, lower each property and method, resolve against the superclass,
//! register), so that each DSP0004 rule sits in one short function.

use super::{Element, Head, RawQualifier};
use crate::compiler::{ClassEntry, Compiler, FileCtx, Item, PendingRef, SrcPos};
use crate::diag::Error;
use crate::literal::{to_value, Lit, Spanned};
use crate::parser::{Pair, Rule};
use crate::resolve::{resolve, At};
use cim::{
    CimName, CimType, Class, Flavors, Method, Parameter, Property, Qualifier, QualifierList, Value,
};

/// The parts of a class declaration as written.
struct ClassHeader<'i> {
    /// The keyword used: `class`, `association` or `indication`.
    keyword: Element,
    name: &'i str,
    name_pos: usize,
    sup: Option<(&'i str, usize)>,
    features: Vec<Pair<'i>>,
}

/// A class being lowered: its own declarations and where each was written.
struct ClassBuild {
    name: CimName,
    is_assoc: bool,
    local: Class,
    prop_pos: Vec<usize>,
    meth_pos: Vec<usize>,
    /// Reference classes named by properties and parameters, checked once registered.
    refs_to_check: Vec<(CimName, usize)>,
    failed: bool,
}

impl Compiler<'_> {
    /// `[quals] class Name : Super { features };`
    pub(crate) fn lower_class(&mut self, f: &FileCtx<'_>, pair: Pair<'_>, quals: Option<Pair<'_>>) {
        let at = SrcPos {
            file: f.file,
            pos: f.pos(&pair) as u32,
        };
        let ns = self.current_ns;
        let raw_quals = self.raw_qualifiers(f, quals);
        let header = class_header(f, pair, at.pos as usize);
        // A second definition is compared with the first once resolved: an
        // identical one (the same file included twice) is accepted silently.
        let previous = self
            .class_index
            .get(&(ns, CimName::new(header.name)))
            .copied()
            .filter(|&i| !self.classes[i].external);
        let (sup_idx, sup_failed) = self.superclass_of(f, &header);
        let kind = self.class_kind(&header, &raw_quals, sup_idx);
        let qualifiers = self.class_qualifiers(f, raw_quals, kind, header.keyword);

        let name = CimName::new(header.name);
        let mut local = Class::new(name.clone(), header.sup.map(|(s, _)| CimName::new(s)));
        local.qualifiers = qualifiers;
        let mut build = ClassBuild {
            name,
            is_assoc: kind == Element::Association,
            local,
            prop_pos: Vec::new(),
            meth_pos: Vec::new(),
            refs_to_check: Vec::new(),
            failed: sup_failed,
        };
        for feat in header.features {
            self.lower_feature(f, &mut build, feat);
        }
        let class = self.resolve_class(f, &mut build, sup_idx, header.name_pos);

        if let Some(p) = previous {
            if *self.resolved(p) != class {
                self.error(
                    f,
                    header.name_pos,
                    Error::DuplicateClass(header.name.to_owned()),
                );
            }
            return;
        }
        self.register_class(f, build, class, sup_idx, at);
    }

    /// The superclass's index, or an error when it is not defined (then `true`).
    fn superclass_of(&mut self, f: &FileCtx<'_>, h: &ClassHeader<'_>) -> (Option<usize>, bool) {
        let Some((s, spos)) = h.sup else {
            return (None, false);
        };
        match self.lookup_class(self.current_ns, s) {
            Some(i) => (Some(i), false),
            None => {
                self.error(
                    f,
                    spos,
                    Error::UndefinedSuperclass {
                        class: h.name.to_owned(),
                        superclass: s.to_owned(),
                    },
                );
                (None, true)
            }
        }
    }

    /// The kind decides which scopes apply: keyword, own qualifier, or inherited.
    fn class_kind(
        &mut self,
        h: &ClassHeader<'_>,
        raw_quals: &[RawQualifier<'_>],
        sup_idx: Option<usize>,
    ) -> Element {
        if h.keyword != Element::Class {
            return h.keyword;
        }
        let says = |q: &str| {
            raw_quals.iter().any(|r| {
                r.name.eq_ignore_ascii_case(q)
                    && !matches!(
                        r.value,
                        Some(Spanned {
                            lit: Lit::Bool(false),
                            ..
                        })
                    )
            })
        };
        let sup_class = sup_idx.map(|i| self.resolved(i));
        if says("Association") || sup_class.as_ref().is_some_and(|c| c.is_association()) {
            Element::Association
        } else if says("Indication") || sup_class.as_ref().is_some_and(|c| c.is_indication()) {
            Element::Indication
        } else {
            Element::Class
        }
    }

    /// The class's own qualifiers; the `association`/`indication` keyword
    /// implies the qualifier of that name when it is not written.
    fn class_qualifiers(
        &mut self,
        f: &FileCtx<'_>,
        raw_quals: Vec<RawQualifier<'_>>,
        kind: Element,
        keyword: Element,
    ) -> Vec<Qualifier> {
        let mut qualifiers = self.apply_qualifiers(f, raw_quals, kind);
        let flag = match keyword {
            Element::Association => "Association",
            Element::Indication => "Indication",
            _ => return qualifiers,
        };
        if qualifiers.find(flag).is_none() {
            let flavors = self
                .lookup_qualifier(self.current_ns, flag)
                .map(|d| d.flavors)
                .unwrap_or(Flavors {
                    overridable: false,
                    ..Flavors::default()
                });
            let mut q = Qualifier::flag(flag);
            q.flavors = flavors;
            qualifiers.push(q);
        }
        qualifiers
    }

    /// One property, reference or method of the class.
    fn lower_feature(&mut self, f: &FileCtx<'_>, build: &mut ClassBuild, feat: Pair<'_>) {
        let mut quals = None;
        let mut head = None;
        let mut tail = None;
        for p in feat.into_inner() {
            match p.as_rule() {
                Rule::qualifier_list => quals = Some(p),
                Rule::ref_head | Rule::type_head => head = Some(p),
                Rule::property_tail | Rule::method_tail => tail = Some(p),
                _ => {}
            }
        }
        let (Some(head), Some(tail)) = (head, tail) else {
            return;
        };
        let raw = self.raw_qualifiers(f, quals);
        let Some(h) = self.head(f, head) else {
            build.failed = true;
            return;
        };
        if let CimType::Reference(Some(c)) = &h.ty {
            build.refs_to_check.push((c.clone(), h.name_pos));
        }
        if tail.as_rule() == Rule::property_tail {
            self.lower_property(f, build, raw, h, tail);
        } else {
            self.lower_method(f, build, raw, h, tail);
        }
    }

    /// `Type Name [array] = default;` or `Class REF Name = default;`
    fn lower_property(
        &mut self,
        f: &FileCtx<'_>,
        build: &mut ClassBuild,
        raw: Vec<RawQualifier<'_>>,
        h: Head<'_>,
        tail: Pair<'_>,
    ) {
        let is_ref = h.ty.is_reference();
        let element = if is_ref {
            Element::Reference
        } else {
            Element::Property
        };
        let qualifiers = self.apply_qualifiers(f, raw, element);
        if is_ref && !build.is_assoc {
            self.error(
                f,
                h.name_pos,
                Error::ReferenceInNonAssociation {
                    class: build.name.to_string(),
                    property: h.name.to_owned(),
                },
            );
            build.failed = true;
        }
        let mut is_array = false;
        let mut array_size = None;
        let mut value = Value::Null;
        for p in tail.into_inner() {
            match p.as_rule() {
                Rule::array_spec => {
                    is_array = true;
                    array_size = self.array_size(f, p);
                }
                Rule::init_value => match self.literal(f, p) {
                    Some(sp) => match to_value(sp, &h.ty, is_array) {
                        Ok(v) => value = v,
                        Err((p, e)) => {
                            self.error(f, p, e);
                            build.failed = true;
                        }
                    },
                    None => build.failed = true,
                },
                _ => {}
            }
        }
        if build.local.properties.iter().any(|p| p.name.is(h.name)) {
            self.error(f, h.name_pos, Error::DuplicateProperty(h.name.to_owned()));
            build.failed = true;
            return;
        }
        if is_array && qualifiers.is_true("Key") {
            self.error(
                f,
                h.name_pos,
                Error::Key(format!("key property {} cannot be an array", h.name)),
            );
            build.failed = true;
        }
        build.local.properties.push(Property {
            name: CimName::new(h.name),
            ty: h.ty,
            is_array,
            array_size,
            value,
            qualifiers,
            class_origin: Some(build.name.clone()),
            propagated: false,
        });
        build.prop_pos.push(h.name_pos);
    }

    /// `Type Name(parameters);`
    fn lower_method(
        &mut self,
        f: &FileCtx<'_>,
        build: &mut ClassBuild,
        raw: Vec<RawQualifier<'_>>,
        h: Head<'_>,
        tail: Pair<'_>,
    ) {
        let qualifiers = self.apply_qualifiers(f, raw, Element::Method);
        let mut parameters: Vec<Parameter> = Vec::new();
        for param in tail.into_inner() {
            if let Some(p) = self.lower_parameter(f, build, &parameters, param) {
                parameters.push(p);
            }
        }
        if build.local.methods.iter().any(|m| m.name.is(h.name)) {
            self.error(f, h.name_pos, Error::DuplicateMethod(h.name.to_owned()));
            build.failed = true;
            return;
        }
        build.local.methods.push(Method {
            name: CimName::new(h.name),
            return_type: h.ty,
            parameters,
            qualifiers,
            class_origin: Some(build.name.clone()),
            propagated: false,
        });
        build.meth_pos.push(h.name_pos);
    }

    /// One method parameter; `None` (with the error reported) when it is
    /// malformed or a duplicate of one in `earlier`.
    fn lower_parameter(
        &mut self,
        f: &FileCtx<'_>,
        build: &mut ClassBuild,
        earlier: &[Parameter],
        param: Pair<'_>,
    ) -> Option<Parameter> {
        let mut quals = None;
        let mut head = None;
        let mut is_array = false;
        let mut array_size = None;
        for p in param.into_inner() {
            match p.as_rule() {
                Rule::qualifier_list => quals = Some(p),
                Rule::ref_head | Rule::type_head => head = Some(p),
                Rule::array_spec => {
                    is_array = true;
                    array_size = self.array_size(f, p);
                }
                // DSP0004 v3 parameter defaults have no place in the model.
                Rule::init_value => {
                    let pos = f.pos(&p);
                    self.warn(
                        f,
                        pos,
                        Error::Syntax("parameter default values are ignored".into()),
                    );
                }
                _ => {}
            }
        }
        let raw = self.raw_qualifiers(f, quals);
        let qualifiers = self.apply_qualifiers(f, raw, Element::Parameter);
        let Some(ph) = head.and_then(|hp| self.head(f, hp)) else {
            build.failed = true;
            return None;
        };
        if let CimType::Reference(Some(c)) = &ph.ty {
            build.refs_to_check.push((c.clone(), ph.name_pos));
        }
        if earlier.iter().any(|p| p.name.is(ph.name)) {
            self.error(
                f,
                ph.name_pos,
                Error::DuplicateParameter(ph.name.to_owned()),
            );
            build.failed = true;
            return None;
        }
        Some(Parameter {
            name: CimName::new(ph.name),
            ty: ph.ty,
            is_array,
            array_size,
            qualifiers,
        })
    }

    /// Resolves the class against its superclass, reporting each inheritance
    /// error at the feature it concerns.
    fn resolve_class(
        &mut self,
        f: &FileCtx<'_>,
        build: &mut ClassBuild,
        sup_idx: Option<usize>,
        name_pos: usize,
    ) -> Class {
        let sup_class = sup_idx.map(|i| self.resolved(i));
        let (class, errors) = resolve(build.local.clone(), sup_class.as_deref());
        for (where_, e) in errors {
            let pos = match where_ {
                At::Class => name_pos,
                At::Property(i) => build.prop_pos.get(i).copied().unwrap_or(name_pos),
                At::Method(i) => build.meth_pos.get(i).copied().unwrap_or(name_pos),
            };
            self.error(f, pos, e);
            build.failed = true;
        }
        class
    }

    /// Adds a new class to the symbol tables and the delivery queue, and
    /// queues the check of reference classes not declared yet.
    fn register_class(
        &mut self,
        f: &FileCtx<'_>,
        build: ClassBuild,
        class: Class,
        sup_idx: Option<usize>,
        at: SrcPos,
    ) {
        let ns = self.current_ns;
        self.announce(ns);
        self.classes.push(ClassEntry {
            ns,
            local: Some(build.local),
            sup: sup_idx,
            resolved: None,
            external: false,
            failed: build.failed,
            at,
        });
        let idx = self.classes.len() - 1;
        self.keep_resolved(idx, class);
        self.class_index.insert((ns, build.name.clone()), idx);
        self.items.push(Item::Class(idx));
        // Reference classes may be declared later in the input: check now if
        // possible, else at the end.
        for (c, pos) in build.refs_to_check {
            if c == build.name || self.lookup_class(ns, c.as_str()).is_some() {
                continue;
            }
            self.pending_refs.push(PendingRef {
                ns,
                class_name: c,
                user: idx,
                at: SrcPos {
                    file: f.file,
                    pos: pos as u32,
                },
            });
        }
    }
}

/// Reads the keyword, name, superclass and feature pairs of a class declaration.
fn class_header<'i>(f: &FileCtx<'_>, pair: Pair<'i>, class_pos: usize) -> ClassHeader<'i> {
    let mut h = ClassHeader {
        keyword: Element::Class,
        name: "",
        name_pos: class_pos,
        sup: None,
        features: Vec::new(),
    };
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::class_kind => {
                h.keyword = match p.into_inner().next().map(|k| k.as_rule()) {
                    Some(Rule::kw_association) => Element::Association,
                    Some(Rule::kw_indication) => Element::Indication,
                    _ => Element::Class,
                }
            }
            Rule::identifier => {
                h.name = p.as_str();
                h.name_pos = f.pos(&p);
            }
            Rule::superclass => {
                if let Some(s) = p.into_inner().next() {
                    h.sup = Some((s.as_str(), f.pos(&s)));
                }
            }
            Rule::feature => h.features.push(p),
            _ => {}
        }
    }
    h
}
