//! Lowering: builds the model straight from the pest pairs of one production,
//! checking qualifiers against their declarations (existence, scope, type,
//! flavors), literals against declared types, and duplicate names; then hands
//! classes to `resolve` for inheritance.

use crate::compiler::{ClassEntry, Compiler, FileCtx, Item, PendingRef, SrcPos};
use crate::diag::Error;
use crate::literal::{parse_number, to_value, unescape, Lit, Spanned};
use crate::parser::Rule;
use crate::resolve::{resolve, At};
use cim::{
    CimName, CimType, Class, Flavors, Instance, Method, Parameter, Property, Qualifier,
    QualifierDecl, QualifierList, Scopes, Value,
};
use pest::iterators::Pair;

/// Embedded instance values nest at most this deep (bounds recursion on hostile input).
const MAX_EMBED_DEPTH: usize = 16;

/// What a qualifier list is attached to, for scope checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Element {
    Class,
    Association,
    Indication,
    Property,
    Reference,
    Method,
    Parameter,
    /// Instances and their property values: DSP0004 has no scope for them.
    Instance,
}

impl Element {
    fn name(self) -> &'static str {
        match self {
            Element::Class => "class",
            Element::Association => "association",
            Element::Indication => "indication",
            Element::Property => "property",
            Element::Reference => "reference",
            Element::Method => "method",
            Element::Parameter => "parameter",
            Element::Instance => "instance",
        }
    }

    fn allowed(self, s: &Scopes) -> bool {
        match self {
            Element::Class => s.class,
            // Associations and indications are classes too (pywbem and
            // OpenPegasus accept class-scoped qualifiers on them).
            Element::Association => s.association || s.class,
            Element::Indication => s.indication || s.class,
            Element::Property => s.property,
            Element::Reference => s.reference,
            Element::Method => s.method,
            Element::Parameter => s.parameter,
            Element::Instance => true,
        }
    }
}

/// A qualifier as written, before its declaration is applied.
pub(crate) struct RawQualifier<'i> {
    name: &'i str,
    pos: usize,
    value: Option<Spanned>,
    flavors: Vec<(&'i str, usize)>,
}

/// A parsed feature head: type and name.
struct Head<'i> {
    ty: CimType,
    name: &'i str,
    name_pos: usize,
}

impl Compiler<'_> {
    // ----- literals -----

    /// Lowers a value pair (`init_value`, `array_init` or a scalar) into a
    /// literal; `None` after reporting a bad literal.
    pub(crate) fn literal(&mut self, f: &FileCtx<'_>, p: Pair<'_, Rule>) -> Option<Spanned> {
        let pos = f.pos(&p);
        let lit = match p.as_rule() {
            Rule::init_value => return p.into_inner().next().and_then(|i| self.literal(f, i)),
            Rule::array_init => {
                let mut items = Vec::new();
                for i in p.into_inner() {
                    items.push(self.literal(f, i)?);
                }
                Lit::Array(items)
            }
            Rule::string_value => {
                let mut s = String::new();
                let mut ok = true;
                for piece in p.into_inner() {
                    let piece_pos = f.pos(&piece);
                    let raw = piece.as_str();
                    let body = if piece.as_rule() == Rule::string_lit {
                        &raw[1..raw.len() - 1]
                    } else {
                        self.error(f, piece_pos, Error::UnterminatedString);
                        ok = false;
                        &raw[1..]
                    };
                    match unescape(body) {
                        // The usual single piece is moved, not copied.
                        Ok(u) if s.is_empty() => s = u,
                        Ok(u) => s.push_str(&u),
                        Err(e) => {
                            self.error(f, piece_pos, e);
                            ok = false;
                        }
                    }
                }
                if !ok {
                    return None;
                }
                Lit::Str(s)
            }
            Rule::char_lit => {
                let raw = p.as_str();
                let res = unescape(&raw[1..raw.len() - 1]).and_then(|s| {
                    let mut cs = s.chars();
                    match (cs.next(), cs.next()) {
                        (Some(c), None) if (c as u32) <= 0xFFFF => Ok(Lit::Char(c)),
                        _ => Err(Error::BadLiteral(format!(
                            "{raw} is not a char16 literal (exactly one UCS-2 character)"
                        ))),
                    }
                });
                match res {
                    Ok(l) => l,
                    Err(e) => {
                        self.error(f, pos, e);
                        return None;
                    }
                }
            }
            Rule::kw_null => Lit::Null,
            Rule::kw_true => Lit::Bool(true),
            Rule::kw_false => Lit::Bool(false),
            Rule::number => match parse_number(p.as_str()) {
                Ok(l) => l,
                Err(e) => {
                    self.error(f, pos, e);
                    return None;
                }
            },
            Rule::alias => {
                let name = p.as_str().to_owned();
                let path = self.aliases.get(&name.to_ascii_lowercase()).cloned();
                Lit::Alias(name, path)
            }
            Rule::embedded_instance => {
                let inst = self.lower_instance_body(f, p, None, false)?;
                Lit::Instance(Box::new(inst))
            }
            Rule::bad_token => {
                self.error(
                    f,
                    pos,
                    Error::BadLiteral(format!(
                        "{:?} is not a value (expected a number, a string, a char16, TRUE, FALSE, NULL or an alias)",
                        p.as_str()
                    )),
                );
                return None;
            }
            _ => return None,
        };
        Some(Spanned { lit, pos })
    }

    // ----- qualifiers -----

    fn raw_qualifiers<'i>(
        &mut self,
        f: &FileCtx<'_>,
        list: Option<Pair<'i, Rule>>,
    ) -> Vec<RawQualifier<'i>> {
        let Some(list) = list else { return Vec::new() };
        let mut out = Vec::new();
        for q in list.into_inner() {
            let pos = f.pos(&q);
            let mut inner = q.into_inner();
            let Some(name) = inner.next() else { continue };
            let mut raw = RawQualifier {
                name: name.as_str(),
                pos,
                value: None,
                flavors: Vec::new(),
            };
            let mut bad_value = false;
            for part in inner {
                match part.as_rule() {
                    Rule::qualifier_param => {
                        if let Some(v) = part.into_inner().next() {
                            raw.value = self.literal(f, v);
                            bad_value = raw.value.is_none();
                        } else {
                            raw.value = Some(Spanned {
                                lit: Lit::Null,
                                pos,
                            });
                        }
                    }
                    Rule::qualifier_flavors => {
                        for fl in part.into_inner() {
                            let fp = f.pos(&fl);
                            raw.flavors.push((fl.as_str(), fp));
                        }
                    }
                    _ => {}
                }
            }
            if !bad_value {
                out.push(raw);
            }
        }
        out
    }

    /// Applies qualifier declarations to raw qualifiers: checks existence,
    /// scope, duplicates and value types; fills default values and flavors.
    fn apply_qualifiers(
        &mut self,
        f: &FileCtx<'_>,
        raws: Vec<RawQualifier<'_>>,
        element: Element,
    ) -> Vec<Qualifier> {
        let mut out: Vec<Qualifier> = Vec::with_capacity(raws.len());
        let ns = self.current_ns;
        for raw in raws {
            let Some(decl) = self.lookup_qualifier(ns, raw.name) else {
                self.error(f, raw.pos, Error::UnknownQualifier(raw.name.to_owned()));
                continue;
            };
            let (name, ty, is_array, scopes, mut flavors) = (
                decl.name.clone(),
                decl.ty.clone(),
                decl.is_array,
                decl.scopes,
                decl.flavors,
            );
            let default = if raw.value.is_none() {
                Some(if ty == CimType::Boolean && !is_array {
                    Value::Boolean(true)
                } else {
                    decl.default.clone()
                })
            } else {
                None
            };
            if !element.allowed(&scopes) {
                self.error(
                    f,
                    raw.pos,
                    Error::QualifierScope {
                        name: name.to_string(),
                        element: element.name(),
                    },
                );
                continue;
            }
            if out.iter().any(|q| q.name == name) {
                self.error(f, raw.pos, Error::DuplicateQualifier(name.to_string()));
                continue;
            }
            let value = match (raw.value, default) {
                (_, Some(d)) => d,
                (Some(sp), None) => match to_value(sp, &ty, is_array) {
                    Ok(v) => v,
                    Err((p, e)) => {
                        let e = match e {
                            Error::TypeMismatch(m) => {
                                Error::TypeMismatch(format!("qualifier {name}: {m}"))
                            }
                            other => other,
                        };
                        self.error(f, p, e);
                        continue;
                    }
                },
                (None, None) => Value::Null,
            };
            for (word, p) in raw.flavors {
                if let Err(e) = apply_flavor(&mut flavors, word) {
                    self.error(f, p, e);
                }
            }
            out.push(Qualifier {
                name,
                ty,
                value,
                propagated: false,
                flavors,
            });
        }
        out
    }

    /// `Qualifier Name : type [= default], Scope(...), Flavor(...);`
    pub(crate) fn lower_qualifier_decl(&mut self, f: &FileCtx<'_>, pair: Pair<'_, Rule>) {
        let pos = f.pos(&pair);
        let mut name = "";
        let mut name_pos = pos;
        let mut ty = None;
        let mut is_array = false;
        let mut array_size = None;
        let mut default = Value::Null;
        let mut scopes: Option<Scopes> = None;
        let mut flavors = Flavors::default();
        let mut ok = true;
        let mut idents = 0;
        let mut default_lit = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::identifier if idents == 0 => {
                    idents += 1;
                    name = p.as_str();
                    name_pos = f.pos(&p);
                }
                Rule::identifier => {
                    idents += 1;
                    match CimType::from_name(p.as_str()).filter(|t| !t.is_reference()) {
                        Some(t) => ty = Some(t),
                        None => {
                            self.error(f, f.pos(&p), Error::UnknownType(p.as_str().to_owned()));
                            ok = false;
                        }
                    }
                }
                Rule::array_spec => {
                    is_array = true;
                    array_size = self.array_size(f, p);
                }
                Rule::init_value => {
                    default_lit = self.literal(f, p).or_else(|| {
                        ok = false;
                        None
                    })
                }
                Rule::scope_spec => {
                    let mut s = Scopes::default();
                    for w in p.into_inner().filter(|w| w.as_rule() == Rule::identifier) {
                        match w.as_str().to_ascii_lowercase().as_str() {
                            "class" => s.class = true,
                            "association" => s.association = true,
                            "indication" => s.indication = true,
                            "property" => s.property = true,
                            "reference" => s.reference = true,
                            "method" => s.method = true,
                            "parameter" => s.parameter = true,
                            "any" => s = Scopes::ANY,
                            // DSP0004 v3 scopes with no place in this model.
                            "qualifier" | "enumeration" | "structure" | "enumerationvalue" => {}
                            other => {
                                self.error(
                                    f,
                                    f.pos(&w),
                                    Error::BadQualifierDecl(format!("unknown scope {other:?}")),
                                );
                                ok = false;
                            }
                        }
                    }
                    scopes = Some(s);
                }
                Rule::flavor_spec => {
                    for w in p.into_inner().filter(|w| w.as_rule() == Rule::identifier) {
                        if let Err(e) = apply_flavor(&mut flavors, w.as_str()) {
                            self.error(f, f.pos(&w), e);
                            ok = false;
                        }
                    }
                }
                _ => {}
            }
        }
        let Some(ty) = ty else { return };
        if let Some(sp) = default_lit {
            match to_value(sp, &ty, is_array) {
                Ok(v) => default = v,
                Err((p, e)) => {
                    self.error(f, p, e);
                    ok = false;
                }
            }
        }
        let Some(scopes) = scopes else {
            self.error(
                f,
                name_pos,
                Error::BadQualifierDecl(format!("qualifier {name} has no Scope(...)")),
            );
            return;
        };
        if !ok {
            return;
        }
        let decl = QualifierDecl {
            name: CimName::new(name),
            ty,
            is_array,
            array_size,
            default,
            scopes,
            flavors,
        };
        let ns = self.current_ns;
        let key = (ns, decl.name.clone());
        if let Some(existing) = self.qualifiers.get(&key) {
            if *existing == decl {
                return;
            }
            // A declaration that only the repository knew may be redefined.
            if self.declared_here.contains(&key) {
                self.error(f, name_pos, Error::DuplicateQualifierDecl(name.to_owned()));
                return;
            }
        }
        self.announce(ns);
        self.declared_here.insert(key.clone());
        self.qualifiers.insert(key, decl.clone());
        self.items.push(Item::Qualifier(
            ns,
            decl,
            SrcPos {
                file: f.file,
                pos: pos as u32,
            },
        ));
    }

    fn array_size(&mut self, f: &FileCtx<'_>, spec: Pair<'_, Rule>) -> Option<u32> {
        let p = spec.into_inner().next()?;
        match p.as_str().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    f,
                    f.pos(&p),
                    Error::BadLiteral(format!("array size {} is too large", p.as_str())),
                );
                None
            }
        }
    }

    fn head<'i>(&mut self, f: &FileCtx<'_>, p: Pair<'i, Rule>) -> Option<Head<'i>> {
        let rule = p.as_rule();
        let mut it = p.into_inner();
        let first = it.next()?;
        if rule == Rule::ref_head {
            it.next(); // REF
            let name = it.next()?;
            return Some(Head {
                ty: CimType::Reference(Some(CimName::new(first.as_str()))),
                name: name.as_str(),
                name_pos: f.pos(&name),
            });
        }
        let name = it.next()?;
        let ty = match CimType::from_name(first.as_str()).filter(|t| !t.is_reference()) {
            Some(t) => t,
            None => {
                self.error(
                    f,
                    f.pos(&first),
                    Error::UnknownType(first.as_str().to_owned()),
                );
                return None;
            }
        };
        Some(Head {
            ty,
            name: name.as_str(),
            name_pos: f.pos(&name),
        })
    }

    // ----- classes -----

    /// `[quals] class Name : Super { features };`
    pub(crate) fn lower_class(
        &mut self,
        f: &FileCtx<'_>,
        pair: Pair<'_, Rule>,
        quals: Option<Pair<'_, Rule>>,
    ) {
        let class_pos = f.pos(&pair);
        let at = SrcPos {
            file: f.file,
            pos: class_pos as u32,
        };
        let ns = self.current_ns;
        let raw_quals = self.raw_qualifiers(f, quals);
        let mut kind = Element::Class;
        let mut name = "";
        let mut name_pos = class_pos;
        let mut sup: Option<(&str, usize)> = None;
        let mut features = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::class_kind => {
                    kind = match p.into_inner().next().map(|k| k.as_rule()) {
                        Some(Rule::kw_association) => Element::Association,
                        Some(Rule::kw_indication) => Element::Indication,
                        _ => Element::Class,
                    }
                }
                Rule::identifier => {
                    name = p.as_str();
                    name_pos = f.pos(&p);
                }
                Rule::superclass => {
                    if let Some(s) = p.into_inner().next() {
                        sup = Some((s.as_str(), f.pos(&s)));
                    }
                }
                Rule::feature => features.push(p),
                _ => {}
            }
        }
        let keyword_kind = kind;
        // A second definition is compared with the first once resolved: an
        // identical one (the same file included twice) is accepted silently.
        let previous = self
            .class_index
            .get(&(ns, CimName::new(name)))
            .copied()
            .filter(|&i| !self.classes[i].external);
        let mut failed = false;
        let sup_idx = match sup {
            Some((s, spos)) => match self.lookup_class(ns, s) {
                Some(i) => Some(i),
                None => {
                    self.error(
                        f,
                        spos,
                        Error::UndefinedSuperclass {
                            class: name.to_owned(),
                            superclass: s.to_owned(),
                        },
                    );
                    failed = true;
                    None
                }
            },
            None => None,
        };
        // The kind decides which scopes apply: keyword, own qualifier, or inherited.
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
        if kind == Element::Class {
            if says("Association") || sup_class.as_ref().is_some_and(|c| c.is_association()) {
                kind = Element::Association;
            } else if says("Indication") || sup_class.as_ref().is_some_and(|c| c.is_indication()) {
                kind = Element::Indication;
            }
        }
        let is_assoc = kind == Element::Association;
        let mut qualifiers = self.apply_qualifiers(f, raw_quals, kind);
        if keyword_kind != Element::Class {
            let flag = if keyword_kind == Element::Association {
                "Association"
            } else {
                "Indication"
            };
            if qualifiers.find(flag).is_none() {
                let flavors = self
                    .lookup_qualifier(ns, flag)
                    .map(|d| d.flavors)
                    .unwrap_or(Flavors {
                        overridable: false,
                        ..Flavors::default()
                    });
                let mut q = Qualifier::flag(flag);
                q.flavors = flavors;
                qualifiers.push(q);
            }
        }

        let class_name = CimName::new(name);
        let mut local = Class::new(class_name.clone(), sup.map(|(s, _)| CimName::new(s)));
        local.qualifiers = qualifiers;
        let mut prop_pos = Vec::new();
        let mut meth_pos = Vec::new();
        let mut refs_to_check: Vec<(CimName, usize)> = Vec::new();
        for feat in features {
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
                continue;
            };
            let raw = self.raw_qualifiers(f, quals);
            let Some(h) = self.head(f, head) else {
                failed = true;
                continue;
            };
            if let CimType::Reference(Some(c)) = &h.ty {
                refs_to_check.push((c.clone(), h.name_pos));
            }
            if tail.as_rule() == Rule::property_tail {
                let is_ref = h.ty.is_reference();
                let qualifiers = self.apply_qualifiers(
                    f,
                    raw,
                    if is_ref {
                        Element::Reference
                    } else {
                        Element::Property
                    },
                );
                if is_ref && !is_assoc {
                    self.error(
                        f,
                        h.name_pos,
                        Error::ReferenceInNonAssociation {
                            class: name.to_owned(),
                            property: h.name.to_owned(),
                        },
                    );
                    failed = true;
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
                                    failed = true;
                                }
                            },
                            None => failed = true,
                        },
                        _ => {}
                    }
                }
                if local.properties.iter().any(|p| p.name.is(h.name)) {
                    self.error(f, h.name_pos, Error::DuplicateProperty(h.name.to_owned()));
                    failed = true;
                    continue;
                }
                if is_array && qualifiers.is_true("Key") {
                    self.error(
                        f,
                        h.name_pos,
                        Error::Key(format!("key property {} cannot be an array", h.name)),
                    );
                    failed = true;
                }
                local.properties.push(Property {
                    name: CimName::new(h.name),
                    ty: h.ty,
                    is_array,
                    array_size,
                    value,
                    qualifiers,
                    class_origin: Some(class_name.clone()),
                    propagated: false,
                });
                prop_pos.push(h.name_pos);
            } else {
                let qualifiers = self.apply_qualifiers(f, raw, Element::Method);
                let mut parameters: Vec<Parameter> = Vec::new();
                for param in tail.into_inner() {
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
                        failed = true;
                        continue;
                    };
                    if let CimType::Reference(Some(c)) = &ph.ty {
                        refs_to_check.push((c.clone(), ph.name_pos));
                    }
                    if parameters.iter().any(|p| p.name.is(ph.name)) {
                        self.error(
                            f,
                            ph.name_pos,
                            Error::DuplicateParameter(ph.name.to_owned()),
                        );
                        failed = true;
                        continue;
                    }
                    parameters.push(Parameter {
                        name: CimName::new(ph.name),
                        ty: ph.ty,
                        is_array,
                        array_size,
                        qualifiers,
                    });
                }
                if local.methods.iter().any(|m| m.name.is(h.name)) {
                    self.error(f, h.name_pos, Error::DuplicateMethod(h.name.to_owned()));
                    failed = true;
                    continue;
                }
                local.methods.push(Method {
                    name: CimName::new(h.name),
                    return_type: h.ty,
                    parameters,
                    qualifiers,
                    class_origin: Some(class_name.clone()),
                    propagated: false,
                });
                meth_pos.push(h.name_pos);
            }
        }

        let sup_class = sup_idx.map(|i| self.resolved(i));
        let (class, errors) = resolve(local.clone(), sup_class.as_deref());
        for (where_, e) in errors {
            let pos = match where_ {
                At::Class => name_pos,
                At::Property(i) => prop_pos.get(i).copied().unwrap_or(name_pos),
                At::Method(i) => meth_pos.get(i).copied().unwrap_or(name_pos),
            };
            self.error(f, pos, e);
            failed = true;
        }

        if let Some(p) = previous {
            if *self.resolved(p) != class {
                self.error(f, name_pos, Error::DuplicateClass(name.to_owned()));
            }
            return;
        }
        self.announce(ns);
        self.classes.push(ClassEntry {
            ns,
            local: Some(local),
            sup: sup_idx,
            resolved: None,
            external: false,
            failed,
            at,
        });
        let idx = self.classes.len() - 1;
        self.keep_resolved(idx, class);
        self.class_index.insert((ns, class_name.clone()), idx);
        self.items.push(Item::Class(idx));
        // Reference classes may be declared later in the input: check now if
        // possible, else at the end.
        for (c, pos) in refs_to_check {
            if c == class_name || self.lookup_class(ns, c.as_str()).is_some() {
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

    // ----- instances -----

    /// `[quals] instance of Class [as $Alias] { prop = value; ... };`
    pub(crate) fn lower_instance_decl(
        &mut self,
        f: &FileCtx<'_>,
        pair: Pair<'_, Rule>,
        quals: Option<Pair<'_, Rule>>,
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
    fn lower_instance_body(
        &mut self,
        f: &FileCtx<'_>,
        pair: Pair<'_, Rule>,
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
        pair: Pair<'_, Rule>,
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

/// Applies one flavor keyword.
fn apply_flavor(fl: &mut Flavors, word: &str) -> Result<(), Error> {
    match word.to_ascii_lowercase().as_str() {
        "enableoverride" => fl.overridable = true,
        "disableoverride" => fl.overridable = false,
        "tosubclass" => fl.to_subclass = true,
        "restricted" => fl.to_subclass = false,
        "translatable" => fl.translatable = true,
        "toinstance" => fl.to_instance = true,
        other => {
            return Err(Error::BadQualifierDecl(format!(
                "unknown flavor {other:?} (EnableOverride, DisableOverride, ToSubclass, Restricted, Translatable)"
            )))
        }
    }
    Ok(())
}
