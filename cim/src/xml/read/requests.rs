//! Reading requests: `SIMPLEREQ` with `METHODCALL` and its `PARAMVALUE`s
//! (intrinsic `IMETHODCALL` parameters are decoded by `params.rs`), and the
//! indication export request `SIMPLEEXPREQ`.

use super::parser::{Elem, Parser, Result};
use crate::name::CimName;
use crate::ops::{MessageBody, MethodCall, ParamValue};
use crate::path::ObjectPath;
use crate::types::CimType;
use crate::value::Value;
use quick_xml::events::Event;

impl<'a> Parser<'a> {
    /// `<!ELEMENT SIMPLEREQ (CORRELATOR*,(METHODCALL|IMETHODCALL))>`
    pub(super) fn parse_simple_req(&mut self, e: &Elem<'a>) -> Result<MessageBody> {
        loop {
            let c = self.required_child(e, "METHODCALL or IMETHODCALL")?;
            let body = match c.name {
                b"CORRELATOR" => {
                    self.skip(&c)?;
                    continue;
                }
                b"IMETHODCALL" => {
                    MessageBody::IMethodCall(crate::xml::params::parse_imethod_call(self, &c)?)
                }
                b"METHODCALL" => MessageBody::MethodCall(self.parse_method_call(&c)?),
                _ => return Err(self.err(&c, "not allowed in SIMPLEREQ")),
            };
            self.no_children(e)?;
            return Ok(body);
        }
    }

    /// Consumes an element and everything in it (for ignorable elements
    /// such as `CORRELATOR`).
    pub(super) fn skip(&mut self, _e: &Elem<'a>) -> Result<()> {
        if self.pending_empty {
            self.pending_empty = false;
            self.leave();
            return Ok(());
        }
        let target = self.depth - 1;
        loop {
            let (pos, ev) = self.next_event()?;
            match ev {
                Event::Start(s) => {
                    self.enter(pos, s)?;
                }
                Event::Empty(s) => {
                    self.enter(pos, s)?;
                    self.leave();
                }
                Event::End(end) => {
                    self.close(pos, end.name().as_ref())?;
                    if self.depth == target {
                        return Ok(());
                    }
                }
                Event::DocType(_) => {
                    return Err(
                        self.xml_err(pos, "DOCTYPE and entity declarations are not accepted")
                    )
                }
                Event::Eof => return Err(self.xml_err(pos, "unexpected end of document")),
                _ => {}
            }
        }
    }

    /// `<!ELEMENT METHODCALL ((LOCALCLASSPATH|LOCALINSTANCEPATH),PARAMVALUE*)>
    /// <!ATTLIST METHODCALL %CIMName;>`. The target path is returned without
    /// namespace; the namespace is [`MethodCall::namespace`].
    pub(super) fn parse_method_call(&mut self, e: &Elem<'a>) -> Result<MethodCall> {
        let method = self.name_attr(e, "NAME")?;
        let t = self.required_child(e, "LOCALINSTANCEPATH or LOCALCLASSPATH")?;
        let mut target = match t.name {
            b"LOCALINSTANCEPATH" => self.parse_local_instance_path(&t)?,
            b"LOCALCLASSPATH" => self.parse_local_class_path(&t)?,
            _ => return Err(self.err(&t, "expected LOCALINSTANCEPATH or LOCALCLASSPATH")),
        };
        let namespace = target.namespace.take().unwrap_or_default();
        let mut params = Vec::new();
        while let Some(c) = self.child()? {
            match c.name {
                b"PARAMVALUE" => params.push(self.parse_param_value(&c)?),
                _ => return Err(self.err(&c, "not allowed in METHODCALL")),
            }
        }
        Ok(MethodCall {
            namespace,
            target,
            method,
            params,
        })
    }

    /// `PARAMTYPE` and `EmbeddedObject` of a `PARAMVALUE` or `RETURNVALUE`.
    pub(super) fn param_type(
        &self,
        e: &Elem<'_>,
        pt: Option<&str>,
        emb: Option<&str>,
    ) -> Result<Option<CimType>> {
        let Some(pt) = pt else {
            return match emb {
                None => Ok(None),
                Some(_) => self.embedded_type(e, CimType::String, emb).map(Some),
            };
        };
        // DSP0201 2.4's %ParamType also allows "object" and "instance".
        if pt.eq_ignore_ascii_case("object") {
            return Ok(Some(CimType::EmbeddedObject));
        }
        if pt.eq_ignore_ascii_case("instance") {
            return Ok(Some(CimType::EmbeddedInstance));
        }
        match CimType::from_name(pt) {
            Some(CimType::Reference(_)) => Ok(Some(CimType::Reference(None))),
            Some(t) => self.embedded_type(e, t, emb).map(Some),
            None => Err(self.err(e, format!("PARAMTYPE={pt:?} is not a CIM data type"))),
        }
    }

    /// `<!ELEMENT PARAMVALUE (VALUE|VALUE.REFERENCE|VALUE.ARRAY|VALUE.REFARRAY|
    /// CLASSNAME|INSTANCENAME|CLASS|INSTANCE|VALUE.NAMEDINSTANCE)?>
    /// <!ATTLIST PARAMVALUE %CIMName; %ParamType; #IMPLIED %EmbeddedObject;>`.
    /// Without `PARAMTYPE`, `VALUE` text stays a string.
    pub(in crate::xml) fn parse_param_value(&mut self, e: &Elem<'a>) -> Result<ParamValue> {
        let [name, pt, pt2, emb, emb2] = self.attrs(
            e,
            [
                "NAME",
                "PARAMTYPE",
                "TYPE",
                "EmbeddedObject",
                "EMBEDDEDOBJECT",
            ],
        )?;
        let pt = pt.or(pt2);
        let name = CimName::from(
            name.ok_or_else(|| self.err(e, "missing attribute NAME"))?
                .into_owned(),
        );
        let ty = self.param_type(e, pt.as_deref(), emb.or(emb2).as_deref())?;
        let value = match self.child()? {
            None => {
                return Ok(ParamValue {
                    name,
                    ty,
                    value: Value::Null,
                })
            }
            Some(c) => {
                let v = self.any_value(&c, ty.as_ref(), "PARAMVALUE")?;
                self.no_children(e)?;
                v
            }
        };
        Ok(ParamValue { name, ty, value })
    }

    /// The value-carrying elements allowed in `PARAMVALUE`/`RETURNVALUE`.
    pub(super) fn any_value(
        &mut self,
        c: &Elem<'a>,
        ty: Option<&CimType>,
        parent: &str,
    ) -> Result<Value> {
        let string = CimType::String;
        let untyped = ty.is_none();
        let ty = ty.unwrap_or(&string);
        // Objects only where a string (embedded object) may stand; paths only
        // where a reference may: the value must fit the declared PARAMTYPE.
        let refs_ok = untyped || ty.is_reference();
        let class_ok = matches!(ty, CimType::String | CimType::EmbeddedObject);
        let inst_ok = class_ok || *ty == CimType::EmbeddedInstance;
        Ok(match c.name {
            b"VALUE" if !ty.is_reference() => self.parse_value(c, ty)?,
            b"VALUE.ARRAY" if !ty.is_reference() => Value::Array(self.parse_value_array(c, ty)?),
            b"VALUE.REFERENCE" if refs_ok => Value::Reference(self.parse_value_reference(c)?),
            b"VALUE.REFARRAY" if refs_ok => Value::Array(self.parse_value_refarray(c)?),
            b"CLASSNAME" if refs_ok => {
                Value::Reference(ObjectPath::class(None, self.parse_class_name(c)?))
            }
            b"INSTANCENAME" if refs_ok => Value::Reference(self.parse_instance_name(c)?),
            b"CLASS" if class_ok => Value::Class(Box::new(self.parse_class(c)?)),
            b"INSTANCE" if inst_ok => Value::Instance(Box::new(self.parse_instance(c)?)),
            b"VALUE.NAMEDINSTANCE" if inst_ok => {
                Value::Instance(Box::new(self.parse_value_named_instance(c)?))
            }
            _ => {
                return Err(self.err(
                    c,
                    format!("not allowed in {parent} of type {}", ty.xml_name()),
                ))
            }
        })
    }

    /// `<!ELEMENT SIMPLEEXPREQ (CORRELATOR*,EXPMETHODCALL)>`,
    /// `<!ELEMENT EXPMETHODCALL (EXPPARAMVALUE*)>`, `<!ELEMENT EXPPARAMVALUE (INSTANCE?)>`:
    /// only `ExportIndication` with its `NewIndication` instance.
    pub(super) fn parse_simple_exp_req(&mut self, e: &Elem<'a>) -> Result<MessageBody> {
        let call = loop {
            let c = self.required_child(e, "EXPMETHODCALL")?;
            if c.name == b"CORRELATOR" {
                self.skip(&c)?;
                continue;
            }
            self.expect(&c, "EXPMETHODCALL")?;
            break c;
        };
        let name = self.attr_req(&call, "NAME")?;
        if !name.eq_ignore_ascii_case("ExportIndication") {
            return Err(self.err(&call, format!("unknown export method {name:?}")));
        }
        let mut indication = None;
        while let Some(p) = self.child()? {
            self.expect(&p, "EXPPARAMVALUE")?;
            let pname = self.attr_req(&p, "NAME")?;
            if !pname.eq_ignore_ascii_case("NewIndication") || indication.is_some() {
                return Err(self.err(&p, format!("unexpected export parameter {pname:?}")));
            }
            let i = self.required_child(&p, "INSTANCE")?;
            indication = Some(self.parse_instance(&i)?);
            self.no_children(&p)?;
        }
        let indication = indication.ok_or_else(|| self.err(&call, "missing NewIndication"))?;
        self.no_children(e)?;
        Ok(MessageBody::ExportIndication(indication))
    }
}
