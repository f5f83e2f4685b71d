//! Qualifier declarations and qualifiers (DSP0004 §5.6), with scopes and flavors.

use crate::name::CimName;
use crate::types::CimType;
use crate::value::Value;

/// Where a qualifier may be used (DSP0201 `SCOPE` attributes; MOF `Scope(...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes {
    /// `class`
    pub class: bool,
    /// `association`
    pub association: bool,
    /// `indication`
    pub indication: bool,
    /// `property`
    pub property: bool,
    /// `reference`
    pub reference: bool,
    /// `method`
    pub method: bool,
    /// `parameter`
    pub parameter: bool,
}

impl Scopes {
    /// Every scope (MOF `Scope(any)`).
    pub const ANY: Scopes = Scopes {
        class: true,
        association: true,
        indication: true,
        property: true,
        reference: true,
        method: true,
        parameter: true,
    };

    /// True when every scope is set.
    pub fn is_any(&self) -> bool {
        *self == Scopes::ANY
    }
}

/// Qualifier flavors (DSP0004 §5.6.1; DSP0201 attributes `OVERRIDABLE`,
/// `TOSUBCLASS`, `TOINSTANCE`, `TRANSLATABLE`). Defaults are DSP0004's:
/// EnableOverride, ToSubclass, not translatable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavors {
    /// EnableOverride (true) or DisableOverride (false).
    pub overridable: bool,
    /// ToSubclass (true) or Restricted (false).
    pub to_subclass: bool,
    /// ToInstance (deprecated, kept for the wire).
    pub to_instance: bool,
    /// Translatable.
    pub translatable: bool,
}

impl Default for Flavors {
    fn default() -> Self {
        Flavors {
            overridable: true,
            to_subclass: true,
            to_instance: false,
            translatable: false,
        }
    }
}

/// A qualifier declaration (`Qualifier Key : boolean = false, Scope(...), Flavor(...)`).
#[derive(Debug, Clone, PartialEq)]
pub struct QualifierDecl {
    /// Qualifier name.
    pub name: CimName,
    /// Its type.
    pub ty: CimType,
    /// Whether the value is an array.
    pub is_array: bool,
    /// Fixed array size, if declared.
    pub array_size: Option<u32>,
    /// The default value (`Null` if none).
    pub default: Value,
    /// Where it may be used.
    pub scopes: Scopes,
    /// Default flavors.
    pub flavors: Flavors,
}

/// A qualifier applied to a class, property, method or parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Qualifier {
    /// Qualifier name.
    pub name: CimName,
    /// Its type (from the declaration).
    pub ty: CimType,
    /// Its value.
    pub value: Value,
    /// True when inherited from a superclass rather than given here.
    pub propagated: bool,
    /// Effective flavors.
    pub flavors: Flavors,
}

impl Qualifier {
    /// A qualifier with default flavors, not propagated.
    pub fn new(name: impl Into<CimName>, ty: CimType, value: Value) -> Self {
        Qualifier {
            name: name.into(),
            ty,
            value,
            propagated: false,
            flavors: Flavors::default(),
        }
    }

    /// A boolean qualifier set to true (`Key`, `Association`, ...).
    pub fn flag(name: impl Into<CimName>) -> Self {
        Qualifier::new(name, CimType::Boolean, Value::Boolean(true))
    }
}

/// Helpers for lists of qualifiers, looked up by name case-insensitively.
pub trait QualifierList {
    /// The qualifier with this name.
    fn find(&self, name: &str) -> Option<&Qualifier>;
    /// True when a boolean qualifier with this name is present and true.
    fn is_true(&self, name: &str) -> bool {
        matches!(
            self.find(name).map(|q| &q.value),
            Some(Value::Boolean(true))
        )
    }
    /// The string value of a qualifier.
    fn string(&self, name: &str) -> Option<&str> {
        self.find(name).and_then(|q| q.value.as_str())
    }
}

impl QualifierList for [Qualifier] {
    fn find(&self, name: &str) -> Option<&Qualifier> {
        self.iter().find(|q| q.name.is(name))
    }
}

impl QualifierList for Vec<Qualifier> {
    fn find(&self, name: &str) -> Option<&Qualifier> {
        self.as_slice().find(name)
    }
}
