//! Reading class elements: `CLASS` and its members, `PROPERTY` (and its array
//! and reference forms), `METHOD` and the `PARAMETER` family.

use super::parser::{lossy, Elem, Parser, Result};
use crate::class::{Class, Method, Parameter, Property};
use crate::name::CimName;
use crate::types::CimType;
use crate::value::Value;

impl<'a> Parser<'a> {
    /// `PROPERTY`, `PROPERTY.ARRAY` or `PROPERTY.REFERENCE`:
    ///
    /// `<!ELEMENT PROPERTY (QUALIFIER*,VALUE?)> <!ATTLIST PROPERTY %CIMName;
    /// %CIMType; #REQUIRED %ClassOrigin; %Propagated; %EmbeddedObject; xml:lang>`
    ///
    /// `<!ELEMENT PROPERTY.ARRAY (QUALIFIER*,VALUE.ARRAY?)> <!ATTLIST
    /// PROPERTY.ARRAY %CIMName; %CIMType; #REQUIRED %ArraySize; %ClassOrigin;
    /// %Propagated; %EmbeddedObject; xml:lang>`
    ///
    /// `<!ELEMENT PROPERTY.REFERENCE (QUALIFIER*,(VALUE.REFERENCE)?)>
    /// <!ATTLIST PROPERTY.REFERENCE %CIMName; %ReferenceClass; %ClassOrigin; %Propagated;>`
    /// Appends the property to `out` (built in place: a `Property` is large).
    pub(super) fn parse_property(&mut self, e: &Elem<'a>, out: &mut Vec<Property>) -> Result<()> {
        let [name, ty, size, origin, prop, emb, emb2, refclass] = self.attrs(
            e,
            [
                "NAME",
                "TYPE",
                "ARRAYSIZE",
                "CLASSORIGIN",
                "PROPAGATED",
                "EmbeddedObject",
                "EMBEDDEDOBJECT",
                "REFERENCECLASS",
            ],
        )?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let class_origin = origin.map(|o| CimName::from(o.into_owned()));
        let propagated = self.bool_attr(e, "PROPAGATED", prop.as_deref(), false)?;
        let emb = emb.or(emb2);
        let (ty, is_array, array_size) = match e.name {
            b"PROPERTY" => {
                let t = self.type_attr(e, ty.as_deref(), "TYPE")?;
                (self.embedded_type(e, t, emb.as_deref())?, false, None)
            }
            b"PROPERTY.ARRAY" => {
                let t = self.type_attr(e, ty.as_deref(), "TYPE")?;
                let n = self.array_size_attr(e, size.as_deref())?;
                (self.embedded_type(e, t, emb.as_deref())?, true, n)
            }
            _ => (
                CimType::Reference(refclass.map(|c| CimName::from(c.into_owned()))),
                false,
                None,
            ),
        };
        let mut qualifiers = Vec::new();
        let mut value = Value::Null;
        let mut seen_value = false;
        while let Some(c) = self.child()? {
            match (c.name, e.name) {
                (b"QUALIFIER", _) if !seen_value => qualifiers.push(self.parse_qualifier(&c)?),
                (b"VALUE", b"PROPERTY") if !seen_value => {
                    value = self.parse_value(&c, &ty)?;
                    seen_value = true;
                }
                (b"VALUE.ARRAY", b"PROPERTY.ARRAY") if !seen_value => {
                    value = Value::Array(self.parse_value_array(&c, &ty)?);
                    seen_value = true;
                }
                (b"VALUE.REFERENCE", b"PROPERTY.REFERENCE") if !seen_value => {
                    value = Value::Reference(self.parse_value_reference(&c)?);
                    seen_value = true;
                }
                _ => return Err(self.err(&c, format!("not allowed in <{}>", lossy(e.name)))),
            }
        }
        out.push(Property {
            name,
            ty,
            is_array,
            array_size,
            value,
            qualifiers,
            class_origin,
            propagated,
        });
        Ok(())
    }

    /// `PARAMETER`, `PARAMETER.REFERENCE`, `PARAMETER.ARRAY`, `PARAMETER.REFARRAY`
    /// (each `QUALIFIER*`; attributes NAME, TYPE or REFERENCECLASS, ARRAYSIZE).
    pub(super) fn parse_parameter(&mut self, e: &Elem<'a>) -> Result<Parameter> {
        let [name, ty, refclass, size] =
            self.attrs(e, ["NAME", "TYPE", "REFERENCECLASS", "ARRAYSIZE"])?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let refclass = refclass.map(|c| CimName::from(c.into_owned()));
        let (ty, is_array, array_size) = match e.name {
            b"PARAMETER" => (self.type_attr(e, ty.as_deref(), "TYPE")?, false, None),
            b"PARAMETER.ARRAY" => (
                self.type_attr(e, ty.as_deref(), "TYPE")?,
                true,
                self.array_size_attr(e, size.as_deref())?,
            ),
            b"PARAMETER.REFERENCE" => (CimType::Reference(refclass), false, None),
            _ => (
                CimType::Reference(refclass),
                true,
                self.array_size_attr(e, size.as_deref())?,
            ),
        };
        let mut qualifiers = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"QUALIFIER" => qualifiers.push(self.parse_qualifier(&c)?),
                _ => return Err(self.err(&c, format!("not allowed in <{}>", lossy(e.name)))),
            }
        }
        Ok(Parameter {
            name,
            ty,
            is_array,
            array_size,
            qualifiers,
        })
    }

    /// `<!ELEMENT METHOD (QUALIFIER*,(PARAMETER|PARAMETER.REFERENCE|
    /// PARAMETER.ARRAY|PARAMETER.REFARRAY)*)> <!ATTLIST METHOD %CIMName;
    /// %CIMType; #IMPLIED %ClassOrigin; %Propagated;>`
    pub(super) fn parse_method(&mut self, e: &Elem<'a>) -> Result<Method> {
        let [name, ty, origin, prop] =
            self.attrs(e, ["NAME", "TYPE", "CLASSORIGIN", "PROPAGATED"])?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let return_type = self.type_attr(e, ty.as_deref(), "TYPE")?;
        let class_origin = origin.map(|o| CimName::from(o.into_owned()));
        let propagated = self.bool_attr(e, "PROPAGATED", prop.as_deref(), false)?;
        let mut qualifiers = Vec::new();
        let mut parameters = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"QUALIFIER" if parameters.is_empty() => qualifiers.push(self.parse_qualifier(&c)?),
                b"PARAMETER"
                | b"PARAMETER.REFERENCE"
                | b"PARAMETER.ARRAY"
                | b"PARAMETER.REFARRAY" => parameters.push(self.parse_parameter(&c)?),
                _ => return Err(self.err(&c, "not allowed in METHOD")),
            }
        }
        Ok(Method {
            name,
            return_type,
            parameters,
            qualifiers,
            class_origin,
            propagated,
        })
    }

    /// `<!ELEMENT CLASS (QUALIFIER*,(PROPERTY|PROPERTY.ARRAY|PROPERTY.REFERENCE)*,METHOD*)>
    /// <!ATTLIST CLASS %CIMName; %SuperClass;>`
    pub(in crate::xml) fn parse_class(&mut self, e: &Elem<'a>) -> Result<Class> {
        self.expect(e, "CLASS")?;
        let [name, sup] = self.attrs(e, ["NAME", "SUPERCLASS"])?;
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let superclass = sup
            .filter(|s| !s.is_empty())
            .map(|s| CimName::from(s.into_owned()));
        let mut class = Class::new(name, superclass);
        while let Some(c) = self.child()? {
            match c.name {
                b"QUALIFIER" if class.properties.is_empty() && class.methods.is_empty() => {
                    class.qualifiers.push(self.parse_qualifier(&c)?)
                }
                b"PROPERTY" | b"PROPERTY.ARRAY" | b"PROPERTY.REFERENCE"
                    if class.methods.is_empty() =>
                {
                    self.parse_property(&c, &mut class.properties)?
                }
                b"METHOD" => class.methods.push(self.parse_method(&c)?),
                _ => return Err(self.err(&c, "not allowed in CLASS")),
            }
        }
        Ok(class)
    }
}
