//! Reading responses: `SIMPLERSP` with `METHODRESPONSE` or `IMETHODRESPONSE`,
//! the `IRETURNVALUE` items matched to the operation they answer (pull
//! results included), `ERROR`, and the export response `SIMPLEEXPRSP`.

use super::parser::{Elem, Parser, Result};
use crate::class::Class;
use crate::instance::Instance;
use crate::name::CimName;
use crate::ops::{
    CimObject, IMethodResponse, MessageBody, MethodResponse, MethodResult, ParamValue, PullItems,
    PullResult, Response,
};
use crate::path::ObjectPath;
use crate::qualifier::QualifierDecl;
use crate::status::{CimError, StatusCode};
use crate::value::Value;
use std::borrow::Cow;

impl<'a> Parser<'a> {
    /// `<!ELEMENT SIMPLERSP (METHODRESPONSE|IMETHODRESPONSE)>`
    pub(super) fn parse_simple_rsp(&mut self, e: &Elem<'a>) -> Result<MessageBody> {
        let c = self.required_child(e, "METHODRESPONSE or IMETHODRESPONSE")?;
        let body = match c.name {
            b"IMETHODRESPONSE" => MessageBody::IMethodResponse(self.parse_imethod_response(&c)?),
            b"METHODRESPONSE" => MessageBody::MethodResponse(self.parse_method_response(&c)?),
            _ => return Err(self.err(&c, "not allowed in SIMPLERSP")),
        };
        self.no_children(e)?;
        Ok(body)
    }

    /// `<!ELEMENT ERROR (INSTANCE*)> <!ATTLIST ERROR CODE #REQUIRED DESCRIPTION #IMPLIED>`.
    /// Embedded `CIM_Error` instances are validated and dropped. An unknown
    /// code becomes `CIM_ERR_FAILED` with the number in the description.
    pub(super) fn parse_error(&mut self, e: &Elem<'a>) -> Result<CimError> {
        let [code, desc] = self.attrs(e, ["CODE", "DESCRIPTION"])?;
        let code = code.ok_or_else(|| self.err(e, "missing attribute CODE"))?;
        let n: u32 = code
            .trim()
            .parse()
            .map_err(|_| self.err(e, format!("CODE={code:?} is not a number")))?;
        let mut description = desc.map(Cow::into_owned).unwrap_or_default();
        let status = match StatusCode::from_code(n) {
            Some(s) => s,
            None => {
                description = format!("(status code {n}) {description}");
                StatusCode::Failed
            }
        };
        while let Some(c) = self.child()? {
            match c.name {
                b"INSTANCE" => {
                    self.parse_instance(&c)?;
                }
                _ => return Err(self.err(&c, "not allowed in ERROR")),
            }
        }
        Ok(CimError::new(status, description))
    }

    /// `<!ELEMENT METHODRESPONSE (ERROR|(RETURNVALUE?,PARAMVALUE*))>`
    pub(super) fn parse_method_response(&mut self, e: &Elem<'a>) -> Result<MethodResponse> {
        let name = self.name_attr(e, "NAME")?;
        let mut result = MethodResult {
            return_value: Value::Null,
            return_type: None,
            out_params: Vec::new(),
        };
        let mut first = true;
        while let Some(c) = self.child()? {
            match c.name {
                b"ERROR" if first => {
                    let err = self.parse_error(&c)?;
                    self.no_children(e)?;
                    return Ok(MethodResponse {
                        name,
                        result: Err(err),
                    });
                }
                b"RETURNVALUE" if first => {
                    // <!ELEMENT RETURNVALUE (VALUE|VALUE.REFERENCE)?>
                    let [pt, emb, emb2] =
                        self.attrs(&c, ["PARAMTYPE", "EmbeddedObject", "EMBEDDEDOBJECT"])?;
                    let ty = self.param_type(&c, pt.as_deref(), emb.or(emb2).as_deref())?;
                    if let Some(v) = self.child()? {
                        if !matches!(v.name, b"VALUE" | b"VALUE.REFERENCE") {
                            return Err(self.err(&v, "not allowed in RETURNVALUE"));
                        }
                        result.return_value = self.any_value(&v, ty.as_ref(), "RETURNVALUE")?;
                        self.no_children(&c)?;
                    }
                    result.return_type = ty;
                }
                b"PARAMVALUE" => result.out_params.push(self.parse_param_value(&c)?),
                _ => return Err(self.err(&c, "not allowed in METHODRESPONSE")),
            }
            first = false;
        }
        Ok(MethodResponse {
            name,
            result: Ok(result),
        })
    }

    /// `<!ELEMENT IMETHODRESPONSE (ERROR|(IRETURNVALUE?,PARAMVALUE*))>`; the
    /// `IRETURNVALUE` content is interpreted by the operation `NAME`, and the
    /// pull operations' `EnumerationContext`/`EndOfSequence` output parameters
    /// are folded into [`PullResult`].
    pub(super) fn parse_imethod_response(&mut self, e: &Elem<'a>) -> Result<IMethodResponse> {
        let name = self.attr_req(e, "NAME")?;
        let mut items: Option<Vec<RetItem>> = None;
        let mut params: Vec<ParamValue> = Vec::new();
        let mut first = true;
        while let Some(c) = self.child()? {
            match c.name {
                b"ERROR" if first => {
                    let err = self.parse_error(&c)?;
                    self.no_children(e)?;
                    return Ok(IMethodResponse {
                        name,
                        result: Err(err),
                    });
                }
                b"IRETURNVALUE" if first => items = Some(self.parse_ireturn_value(&c)?),
                b"PARAMVALUE" => params.push(self.parse_param_value(&c)?),
                _ => return Err(self.err(&c, "not allowed in IMETHODRESPONSE")),
            }
            first = false;
        }
        let response = self.response_for(e, &name, items, params)?;
        Ok(IMethodResponse {
            name,
            result: Ok(response),
        })
    }

    /// `<!ELEMENT IRETURNVALUE (CLASSNAME*|INSTANCENAME*|VALUE*|VALUE.OBJECTWITHPATH*|
    /// VALUE.OBJECTWITHLOCALPATH*|VALUE.OBJECT*|OBJECTPATH*|QUALIFIER.DECLARATION*|
    /// VALUE.ARRAY?|VALUE.REFERENCE?|CLASS*|INSTANCE*|INSTANCEPATH*|
    /// VALUE.NAMEDINSTANCE*|VALUE.INSTANCEWITHPATH*)>`
    pub(super) fn parse_ireturn_value(&mut self, _e: &Elem<'a>) -> Result<Vec<RetItem>> {
        let mut items = Vec::new();
        while let Some(c) = self.child()? {
            let item = match c.name {
                b"CLASSNAME" => RetItem::ClassName(self.parse_class_name(&c)?),
                b"INSTANCENAME" => RetItem::Path(self.parse_instance_name(&c)?),
                b"INSTANCEPATH" => RetItem::Path(self.parse_instance_path(&c)?),
                b"OBJECTPATH" => RetItem::Path(self.parse_object_path(&c)?),
                b"VALUE" => RetItem::Text(self.text()?.into_owned(), c.pos),
                b"VALUE.ARRAY" => RetItem::Array(self.parse_string_array(&c)?),
                b"VALUE.REFERENCE" => RetItem::Reference(self.parse_value_reference(&c)?),
                b"VALUE.OBJECTWITHPATH" | b"VALUE.OBJECTWITHLOCALPATH" => {
                    let (p, o) = self.parse_object_with_path(&c)?;
                    RetItem::Object(p, o)
                }
                b"VALUE.OBJECT" | b"VALUE.NAMEDOBJECT" => {
                    let (p, o) = self.parse_value_object(&c)?;
                    RetItem::Object(p, o)
                }
                b"QUALIFIER.DECLARATION" => RetItem::QualifierDecl(self.parse_qualifier_decl(&c)?),
                b"CLASS" => RetItem::Class(self.parse_class(&c)?),
                b"INSTANCE" => RetItem::Instance(self.parse_instance(&c)?),
                b"VALUE.NAMEDINSTANCE" => {
                    RetItem::NamedInstance(self.parse_value_named_instance(&c)?)
                }
                b"VALUE.INSTANCEWITHPATH" => {
                    RetItem::InstanceWithPath(self.parse_value_instance_with_path(&c)?)
                }
                _ => return Err(self.err(&c, "not allowed in IRETURNVALUE")),
            };
            items.push(item);
        }
        Ok(items)
    }

    /// Maps `IRETURNVALUE` items to the [`Response`] of operation `name`.
    pub(super) fn response_for(
        &self,
        e: &Elem<'_>,
        name: &str,
        items: Option<Vec<RetItem>>,
        params: Vec<ParamValue>,
    ) -> Result<Response> {
        let items = items.unwrap_or_default();
        let bad = |what: &str| self.err(e, format!("{name} response holds {what}"));
        let kind = |i: &RetItem| i.kind();
        macro_rules! collect {
            ($variant:ident, $pat:pat => $out:expr) => {{
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        $pat => v.push($out),
                        other => return Err(bad(kind(&other))),
                    }
                }
                Response::$variant(v)
            }};
        }
        let lname = name.to_ascii_lowercase();
        let single = |items: Vec<RetItem>| -> Result<Option<RetItem>> {
            let mut it = items.into_iter();
            let first = it.next();
            if let Some(extra) = it.next() {
                return Err(bad(&format!("more than one item ({})", extra.kind())));
            }
            Ok(first)
        };
        Ok(match lname.as_str() {
            "getclass" => match single(items)? {
                Some(RetItem::Class(c)) => Response::Class(c),
                Some(other) => return Err(bad(other.kind())),
                None => return Err(bad("no CLASS")),
            },
            "enumerateclasses" => collect!(Classes, RetItem::Class(c) => c),
            "enumerateclassnames" => collect!(ClassNames, RetItem::ClassName(c) => c),
            "getinstance" => match single(items)? {
                Some(RetItem::Instance(i)) => Response::Instance(i),
                Some(other) => return Err(bad(other.kind())),
                None => return Err(bad("no INSTANCE")),
            },
            "enumerateinstances" => collect!(NamedInstances, RetItem::NamedInstance(i) => i),
            "enumerateinstancenames" => collect!(InstanceNames, RetItem::Path(p) => p),
            "createinstance" => match single(items)? {
                Some(RetItem::Path(p)) => Response::InstanceName(p),
                Some(other) => return Err(bad(other.kind())),
                None => return Err(bad("no INSTANCENAME")),
            },
            "associators" | "references" | "execquery" => {
                collect!(ObjectsWithPath, RetItem::Object(p, o) => (p, o))
            }
            "associatornames" | "referencenames" => collect!(ObjectPaths, RetItem::Path(p) => p),
            "getproperty" => Response::PropertyValue(match single(items)? {
                None => Value::Null,
                Some(RetItem::Text(t, _)) => Value::String(t),
                Some(RetItem::Array(a)) => Value::Array(
                    a.into_iter()
                        .map(|s| s.map(Value::String).unwrap_or(Value::Null))
                        .collect(),
                ),
                Some(RetItem::Reference(p)) => Value::Reference(p),
                Some(other) => return Err(bad(other.kind())),
            }),
            "getqualifier" => match single(items)? {
                Some(RetItem::QualifierDecl(d)) => Response::QualifierDecl(d),
                Some(other) => return Err(bad(other.kind())),
                None => return Err(bad("no QUALIFIER.DECLARATION")),
            },
            "enumeratequalifiers" => collect!(QualifierDecls, RetItem::QualifierDecl(d) => d),
            "enumerationcount" => match single(items)? {
                None => Response::Count(None),
                Some(RetItem::Text(t, _)) => Response::Count(Some(
                    t.trim()
                        .parse()
                        .map_err(|_| self.err(e, format!("count {t:?} is not a uint64")))?,
                )),
                Some(other) => return Err(bad(other.kind())),
            },
            "openenumerateinstances"
            | "openassociatorinstances"
            | "openreferenceinstances"
            | "pullinstanceswithpath" => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        RetItem::InstanceWithPath(i) => v.push(i),
                        other => return Err(bad(other.kind())),
                    }
                }
                self.pull_result(e, PullItems::InstancesWithPath(v), params)?
            }
            "openenumerateinstancepaths"
            | "openassociatorinstancepaths"
            | "openreferenceinstancepaths"
            | "pullinstancepaths" => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        RetItem::Path(p) => v.push(p),
                        other => return Err(bad(other.kind())),
                    }
                }
                self.pull_result(e, PullItems::InstancePaths(v), params)?
            }
            "openqueryinstances" | "pullinstances" => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        RetItem::Instance(i) => v.push(i),
                        other => return Err(bad(other.kind())),
                    }
                }
                self.pull_result(e, PullItems::Instances(v), params)?
            }
            _ => {
                if let Some(first) = items.first() {
                    return Err(bad(first.kind()));
                }
                Response::Empty
            }
        })
    }

    /// Folds the `EnumerationContext`, `EndOfSequence` and `QueryResultClass`
    /// output `PARAMVALUE`s of a pull response (DSP0200 1.4 §5.3.2) into a [`PullResult`].
    pub(super) fn pull_result(
        &self,
        e: &Elem<'_>,
        items: PullItems,
        params: Vec<ParamValue>,
    ) -> Result<Response> {
        let mut r = PullResult {
            items,
            end_of_sequence: false,
            enumeration_context: None,
            query_result_class: None,
        };
        let mut saw_eos = false;
        for p in params {
            if p.name.is("EnumerationContext") {
                r.enumeration_context = match p.value {
                    Value::Null => None,
                    Value::String(s) => Some(s),
                    _ => return Err(self.err(e, "EnumerationContext is not a string")),
                };
            } else if p.name.is("EndOfSequence") {
                r.end_of_sequence = match p.value {
                    Value::Boolean(b) => b,
                    Value::String(s) if s.trim().eq_ignore_ascii_case("true") => true,
                    Value::String(s) if s.trim().eq_ignore_ascii_case("false") => false,
                    _ => return Err(self.err(e, "EndOfSequence is not a boolean")),
                };
                saw_eos = true;
            } else if p.name.is("QueryResultClass") {
                match p.value {
                    Value::Class(c) => r.query_result_class = Some(*c),
                    Value::Null => {}
                    _ => return Err(self.err(e, "QueryResultClass is not a CLASS")),
                }
            } else {
                return Err(self.err(e, format!("unexpected output parameter {}", p.name)));
            }
        }
        if !saw_eos {
            return Err(self.err(e, "pull response without EndOfSequence"));
        }
        Ok(Response::Pull(r))
    }

    /// `<!ELEMENT SIMPLEEXPRSP (EXPMETHODRESPONSE)>`,
    /// `<!ELEMENT EXPMETHODRESPONSE (ERROR|IRETURNVALUE?)>`
    pub(super) fn parse_simple_exp_rsp(&mut self, e: &Elem<'a>) -> Result<MessageBody> {
        let r = self.required_child(e, "EXPMETHODRESPONSE")?;
        self.expect(&r, "EXPMETHODRESPONSE")?;
        self.attr_req(&r, "NAME")?;
        let mut result = Ok(());
        if let Some(c) = self.child()? {
            match c.name {
                b"ERROR" => result = Err(self.parse_error(&c)?),
                b"IRETURNVALUE" => self.skip(&c)?,
                _ => return Err(self.err(&c, "not allowed in EXPMETHODRESPONSE")),
            }
            self.no_children(&r)?;
        }
        self.no_children(e)?;
        Ok(MessageBody::ExportResponse(result))
    }
}

/// One item of an `IRETURNVALUE`, before the operation decides what it means.
pub(super) enum RetItem {
    ClassName(CimName),
    Path(ObjectPath),
    Text(String, #[allow(dead_code)] u64),
    Array(Vec<Option<String>>),
    Reference(ObjectPath),
    Object(ObjectPath, CimObject),
    QualifierDecl(QualifierDecl),
    Class(Class),
    Instance(Instance),
    NamedInstance(Instance),
    InstanceWithPath(Instance),
}

impl RetItem {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            RetItem::ClassName(_) => "CLASSNAME",
            RetItem::Path(_) => "an instance or object path",
            RetItem::Text(..) => "VALUE",
            RetItem::Array(_) => "VALUE.ARRAY",
            RetItem::Reference(_) => "VALUE.REFERENCE",
            RetItem::Object(..) => "VALUE.OBJECT*",
            RetItem::QualifierDecl(_) => "QUALIFIER.DECLARATION",
            RetItem::Class(_) => "CLASS",
            RetItem::Instance(_) => "INSTANCE",
            RetItem::NamedInstance(_) => "VALUE.NAMEDINSTANCE",
            RetItem::InstanceWithPath(_) => "VALUE.INSTANCEWITHPATH",
        }
    }
}
