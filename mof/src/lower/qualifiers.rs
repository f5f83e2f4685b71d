//! Qualifiers: qualifier declarations (`Qualifier Name : type ...;`) and
//! qualifier lists as written on classes, features, parameters and instances,
//! checked against their declarations (existence, scope, duplicates, value
//! type) and given their default values and flavors.

use super::{Element, RawQualifier};
use crate::compiler::{Compiler, FileCtx, Item, SrcPos};
use crate::diag::Error;
use crate::literal::{to_value, Lit, Spanned};
use crate::parser::{Pair, Rule};
use cim::{CimName, CimType, Flavors, Qualifier, QualifierDecl, Scopes, Value};

impl Compiler<'_> {
    pub(super) fn raw_qualifiers<'i>(
        &mut self,
        f: &FileCtx<'_>,
        list: Option<Pair<'i>>,
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
    pub(super) fn apply_qualifiers(
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
    pub(crate) fn lower_qualifier_decl(&mut self, f: &FileCtx<'_>, pair: Pair<'_>) {
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
