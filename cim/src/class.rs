//! Classes, properties, methods and parameters (DSP0004 §5.1).

use crate::name::CimName;
use crate::qualifier::{Qualifier, QualifierList};
use crate::types::CimType;
use crate::value::Value;

/// A property of a class or an instance (also used for references).
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Property name.
    pub name: CimName,
    /// Its type; references carry their class in [`CimType::Reference`].
    pub ty: CimType,
    /// Whether it is an array.
    pub is_array: bool,
    /// Fixed array size, if declared.
    pub array_size: Option<u32>,
    /// The value (the default value in a class); `Null` if none.
    pub value: Value,
    /// Qualifiers.
    pub qualifiers: Vec<Qualifier>,
    /// The class that first declared this property.
    pub class_origin: Option<CimName>,
    /// True when inherited rather than declared or overridden here.
    pub propagated: bool,
}

impl Property {
    /// A scalar property with a value and nothing else.
    pub fn new(name: impl Into<CimName>, ty: CimType, value: Value) -> Self {
        let is_array = matches!(value, Value::Array(_));
        Property {
            name: name.into(),
            ty,
            is_array,
            array_size: None,
            value,
            qualifiers: Vec::new(),
            class_origin: None,
            propagated: false,
        }
    }

    /// True when the property carries a true `Key` qualifier.
    pub fn is_key(&self) -> bool {
        self.qualifiers.is_true("Key")
    }
}

/// A method parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Parameter name.
    pub name: CimName,
    /// Its type.
    pub ty: CimType,
    /// Whether it is an array.
    pub is_array: bool,
    /// Fixed array size, if declared.
    pub array_size: Option<u32>,
    /// Qualifiers (`IN`, `OUT`, ...).
    pub qualifiers: Vec<Qualifier>,
}

impl Parameter {
    /// True unless the parameter is qualified `IN(false)`.
    pub fn is_in(&self) -> bool {
        !matches!(
            self.qualifiers.find("In").map(|q| &q.value),
            Some(Value::Boolean(false))
        )
    }
    /// True when qualified `OUT`.
    pub fn is_out(&self) -> bool {
        self.qualifiers.is_true("Out")
    }
}

/// A method.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    /// Method name.
    pub name: CimName,
    /// Return type.
    pub return_type: CimType,
    /// Parameters in declaration order.
    pub parameters: Vec<Parameter>,
    /// Qualifiers.
    pub qualifiers: Vec<Qualifier>,
    /// The class that first declared this method.
    pub class_origin: Option<CimName>,
    /// True when inherited rather than declared or overridden here.
    pub propagated: bool,
}

/// A class declaration with its resolved (inherited) features.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    /// Class name.
    pub name: CimName,
    /// Direct superclass.
    pub superclass: Option<CimName>,
    /// Qualifiers.
    pub qualifiers: Vec<Qualifier>,
    /// Properties, inherited ones included (marked `propagated`).
    pub properties: Vec<Property>,
    /// Methods, inherited ones included (marked `propagated`).
    pub methods: Vec<Method>,
}

impl Class {
    /// An empty class.
    pub fn new(name: impl Into<CimName>, superclass: Option<CimName>) -> Self {
        Class {
            name: name.into(),
            superclass,
            qualifiers: Vec::new(),
            properties: Vec::new(),
            methods: Vec::new(),
        }
    }

    /// The property with this name.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name.is(name))
    }

    /// The property with this name, mutably.
    pub fn property_mut(&mut self, name: &str) -> Option<&mut Property> {
        self.properties.iter_mut().find(|p| p.name.is(name))
    }

    /// The method with this name.
    pub fn method(&self, name: &str) -> Option<&Method> {
        self.methods.iter().find(|m| m.name.is(name))
    }

    /// The key properties.
    pub fn keys(&self) -> impl Iterator<Item = &Property> {
        self.properties.iter().filter(|p| p.is_key())
    }

    /// True for association classes.
    pub fn is_association(&self) -> bool {
        self.qualifiers.is_true("Association")
    }

    /// True for indication classes.
    pub fn is_indication(&self) -> bool {
        self.qualifiers.is_true("Indication")
    }

    /// The `Provider` qualifier's value, naming the provider that serves this class.
    pub fn provider(&self) -> Option<&str> {
        self.qualifiers.string("Provider")
    }
}
