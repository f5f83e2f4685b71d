//! Instances (DSP0004 §5.1.2).

use crate::class::{Class, Property};
use crate::name::CimName;
use crate::path::{KeyBinding, ObjectPath};
use crate::qualifier::Qualifier;
use crate::types::CimType;
use crate::value::Value;

/// An instance of a class: its class name and property values.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The instance's class.
    pub class_name: CimName,
    /// Property values (with their types and, optionally, qualifiers and class origin).
    pub properties: Vec<Property>,
    /// Instance-level qualifiers (rarely used).
    pub qualifiers: Vec<Qualifier>,
    /// The instance's path, when known.
    pub path: Option<ObjectPath>,
}

impl Instance {
    /// An instance with no properties.
    pub fn new(class_name: impl Into<CimName>) -> Self {
        Instance {
            class_name: class_name.into(),
            properties: Vec::new(),
            qualifiers: Vec::new(),
            path: None,
        }
    }

    /// The property with this name.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name.is(name))
    }

    /// The value of the property with this name (`None` if absent).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.property(name).map(|p| &p.value)
    }

    /// A string property's value.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// Sets (adding or replacing) a property value with its type.
    pub fn set(&mut self, name: &str, ty: CimType, value: Value) {
        if let Some(p) = self.properties.iter_mut().find(|p| p.name.is(name)) {
            p.is_array = matches!(value, Value::Array(_));
            p.ty = ty;
            p.value = value;
        } else {
            self.properties.push(Property::new(name, ty, value));
        }
    }

    /// Builder form of [`Instance::set`].
    pub fn with(mut self, name: &str, ty: CimType, value: Value) -> Self {
        self.set(name, ty, value);
        self
    }

    /// Builds this instance's path from the key properties of `class`
    /// (in the class's declaration order).
    pub fn path_from_class(&self, class: &Class, namespace: Option<&str>) -> ObjectPath {
        let keys = class
            .keys()
            .map(|k| KeyBinding {
                name: k.name.clone(),
                value: self.get(k.name.as_str()).cloned().unwrap_or(Value::Null),
            })
            .collect();
        ObjectPath {
            host: None,
            namespace: namespace.map(str::to_owned),
            class_name: self.class_name.clone(),
            keys,
        }
    }
}
