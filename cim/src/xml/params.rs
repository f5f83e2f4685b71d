//! Intrinsic method calls: `IMETHODCALL` and its `IPARAMVALUE`s decoded into
//! a typed [`Operation`] (DSP0200 1.4 §5.3.2, DSP0201 2.4 §3.2.6.5).
//!
//! Parameter names compare case-insensitively. Parameters DSP0200 marks as
//! optional take DSP0200's defaults when absent (or sent as NULL, i.e. an
//! empty `IPARAMVALUE`); a missing required parameter, an unknown or repeated
//! parameter, or a value of the wrong shape is an [`Error::InvalidParameter`]
//! (the server answers `CIM_ERR_INVALID_PARAMETER`); an unknown operation name
//! is an [`Error::UnknownMethod`] (`CIM_ERR_NOT_SUPPORTED`).
//!
//! `NewValue` of `SetProperty` carries no type on the wire: a `VALUE` is
//! returned as `Value::String`, a `VALUE.ARRAY` as an array of strings, and the
//! object manager converts it with the property's declared type.

use super::read::{Elem, Parser, Result};
use crate::class::Class;
use crate::error::Error;
use crate::instance::Instance;
use crate::name::CimName;
use crate::ops::{IMethodCall, Operation, PullParams};
use crate::path::ObjectPath;
use crate::qualifier::QualifierDecl;
use crate::types::CimType;
use crate::value::Value;

/// The content of one `IPARAMVALUE`, before the operation gives it meaning.
enum Raw {
    Null,
    Text(String),
    Array(Vec<Option<String>>),
    Reference(ObjectPath),
    ClassName(CimName),
    InstanceName(ObjectPath),
    QualifierDecl(QualifierDecl),
    Class(Class),
    Instance(Instance),
    NamedInstance(Instance),
}

impl Raw {
    fn kind(&self) -> &'static str {
        match self {
            Raw::Null => "NULL",
            Raw::Text(_) => "VALUE",
            Raw::Array(_) => "VALUE.ARRAY",
            Raw::Reference(_) => "VALUE.REFERENCE",
            Raw::ClassName(_) => "CLASSNAME",
            Raw::InstanceName(_) => "INSTANCENAME",
            Raw::QualifierDecl(_) => "QUALIFIER.DECLARATION",
            Raw::Class(_) => "CLASS",
            Raw::Instance(_) => "INSTANCE",
            Raw::NamedInstance(_) => "VALUE.NAMEDINSTANCE",
        }
    }
}

/// The parameters of one call, consumed by name as the operation is built.
struct Params {
    method: String,
    call_pos: u64,
    list: Vec<Option<(String, u64, Raw)>>,
}

impl Params {
    fn bad(&self, name: &str, pos: u64, reason: impl Into<String>) -> Error {
        Error::InvalidParameter {
            method: self.method.clone(),
            parameter: name.to_owned(),
            position: pos,
            reason: reason.into(),
        }
    }

    /// Removes and returns parameter `name` (NULL counts as absent).
    fn take(&mut self, name: &str) -> Option<(u64, Raw)> {
        for slot in self.list.iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|(n, _, _)| n.eq_ignore_ascii_case(name))
            {
                let (_, pos, raw) = slot.take()?;
                return match raw {
                    Raw::Null => None,
                    r => Some((pos, r)),
                };
            }
        }
        None
    }

    fn boolean(&mut self, name: &str, default: bool) -> Result<bool> {
        match self.take(name) {
            None => Ok(default),
            Some((pos, Raw::Text(t))) => {
                let t = t.trim();
                if t.eq_ignore_ascii_case("true") {
                    Ok(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Ok(false)
                } else {
                    Err(self.bad(name, pos, format!("{t:?} is not TRUE or FALSE")))
                }
            }
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected a boolean VALUE, got {}", other.kind()),
            )),
        }
    }

    fn opt_uint32(&mut self, name: &str) -> Result<Option<u32>> {
        match self.take(name) {
            None => Ok(None),
            Some((pos, Raw::Text(t))) => t
                .trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| self.bad(name, pos, format!("{t:?} is not a uint32"))),
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected a uint32 VALUE, got {}", other.kind()),
            )),
        }
    }

    fn uint32(&mut self, name: &str, default: Option<u32>) -> Result<u32> {
        match (self.opt_uint32(name)?, default) {
            (Some(v), _) => Ok(v),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(self.bad(name, self.call_pos, "required parameter is missing")),
        }
    }

    fn opt_string(&mut self, name: &str) -> Result<Option<String>> {
        match self.take(name) {
            None => Ok(None),
            Some((_, Raw::Text(t))) => Ok(Some(t)),
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected a string VALUE, got {}", other.kind()),
            )),
        }
    }

    fn string(&mut self, name: &str) -> Result<String> {
        self.opt_string(name)?
            .ok_or_else(|| self.bad(name, self.call_pos, "required parameter is missing"))
    }

    fn cim_name(&mut self, name: &str) -> Result<CimName> {
        let s = self.string(name)?;
        if s.trim().is_empty() {
            return Err(self.bad(name, self.call_pos, "empty name"));
        }
        Ok(CimName::from(s.trim()))
    }

    /// A `CLASSNAME` (a plain `VALUE` is tolerated, as some clients send it).
    fn opt_class_name(&mut self, name: &str) -> Result<Option<CimName>> {
        match self.take(name) {
            None => Ok(None),
            Some((_, Raw::ClassName(c))) => Ok(Some(c)),
            Some((_, Raw::Text(t))) if !t.trim().is_empty() => Ok(Some(CimName::from(t.trim()))),
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected CLASSNAME, got {}", other.kind()),
            )),
        }
    }

    fn class_name(&mut self, name: &str) -> Result<CimName> {
        self.opt_class_name(name)?
            .ok_or_else(|| self.bad(name, self.call_pos, "required parameter is missing"))
    }

    fn instance_name(&mut self, name: &str) -> Result<ObjectPath> {
        match self.take(name) {
            Some((_, Raw::InstanceName(p))) => Ok(p),
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected INSTANCENAME, got {}", other.kind()),
            )),
            None => Err(self.bad(name, self.call_pos, "required parameter is missing")),
        }
    }

    /// `ObjectName`: `CLASSNAME` (a keyless path) or `INSTANCENAME`.
    fn object_name(&mut self, name: &str) -> Result<ObjectPath> {
        match self.take(name) {
            Some((_, Raw::InstanceName(p))) => Ok(p),
            Some((_, Raw::ClassName(c))) => Ok(ObjectPath::class(None, c)),
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected CLASSNAME or INSTANCENAME, got {}", other.kind()),
            )),
            None => Err(self.bad(name, self.call_pos, "required parameter is missing")),
        }
    }

    /// `PropertyList`: absent or NULL = `None`; `VALUE.ARRAY` = the names.
    fn property_list(&mut self) -> Result<Option<Vec<CimName>>> {
        match self.take("PropertyList") {
            None => Ok(None),
            Some((pos, Raw::Array(items))) => items
                .into_iter()
                .map(|i| match i {
                    Some(s) => Ok(CimName::from(s.trim())),
                    None => Err(self.bad("PropertyList", pos, "NULL element in PropertyList")),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some((pos, other)) => Err(self.bad(
                "PropertyList",
                pos,
                format!("expected VALUE.ARRAY, got {}", other.kind()),
            )),
        }
    }

    fn class(&mut self, name: &str) -> Result<Class> {
        match self.take(name) {
            Some((_, Raw::Class(c))) => Ok(c),
            Some((pos, other)) => {
                Err(self.bad(name, pos, format!("expected CLASS, got {}", other.kind())))
            }
            None => Err(self.bad(name, self.call_pos, "required parameter is missing")),
        }
    }

    fn instance(&mut self, name: &str) -> Result<Instance> {
        match self.take(name) {
            Some((_, Raw::Instance(i))) => Ok(i),
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected INSTANCE, got {}", other.kind()),
            )),
            None => Err(self.bad(name, self.call_pos, "required parameter is missing")),
        }
    }

    fn named_instance(&mut self, name: &str) -> Result<Instance> {
        match self.take(name) {
            Some((_, Raw::NamedInstance(i))) => Ok(i),
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected VALUE.NAMEDINSTANCE, got {}", other.kind()),
            )),
            None => Err(self.bad(name, self.call_pos, "required parameter is missing")),
        }
    }

    fn qualifier_decl(&mut self, name: &str) -> Result<QualifierDecl> {
        match self.take(name) {
            Some((_, Raw::QualifierDecl(d))) => Ok(d),
            Some((pos, other)) => Err(self.bad(
                name,
                pos,
                format!("expected QUALIFIER.DECLARATION, got {}", other.kind()),
            )),
            None => Err(self.bad(name, self.call_pos, "required parameter is missing")),
        }
    }

    /// `NewValue`: any value shape, untyped (see the module doc).
    fn new_value(&mut self) -> Result<Value> {
        Ok(match self.take("NewValue") {
            None => Value::Null,
            Some((_, Raw::Text(t))) => Value::String(t),
            Some((_, Raw::Array(a))) => Value::Array(
                a.into_iter()
                    .map(|s| s.map(Value::String).unwrap_or(Value::Null))
                    .collect(),
            ),
            Some((_, Raw::Reference(p))) => Value::Reference(p),
            Some((_, Raw::Instance(i))) => Value::Instance(Box::new(i)),
            Some((pos, other)) => {
                return Err(self.bad("NewValue", pos, format!("unexpected {}", other.kind())))
            }
        })
    }

    /// The pull-operation parameters shared by every `Open*` operation
    /// (DSP0200 1.4 §5.3.2.3: all optional; MaxObjectCount defaults to 0).
    fn pull(&mut self) -> Result<PullParams> {
        Ok(PullParams {
            filter_query_language: self.opt_string("FilterQueryLanguage")?,
            filter_query: self.opt_string("FilterQuery")?,
            operation_timeout: self.opt_uint32("OperationTimeout")?,
            continue_on_error: self.boolean("ContinueOnError", false)?,
            max_object_count: self.uint32("MaxObjectCount", Some(0))?,
        })
    }

    /// Every parameter must have been used.
    fn finish(self) -> Result<()> {
        if let Some((name, pos, _)) = self.list.iter().flatten().next() {
            return Err(self.bad(name, *pos, "unknown or repeated parameter"));
        }
        Ok(())
    }
}

/// `<!ELEMENT IPARAMVALUE (VALUE|VALUE.ARRAY|VALUE.REFERENCE|INSTANCENAME|
/// CLASSNAME|QUALIFIER.DECLARATION|CLASS|INSTANCE|VALUE.NAMEDINSTANCE)?>
/// <!ATTLIST IPARAMVALUE %CIMName;>`
fn parse_iparam<'a>(p: &mut Parser<'a>, e: &Elem<'a>) -> Result<(String, u64, Raw)> {
    p.expect(e, "IPARAMVALUE")?;
    let name = p.attr_req(e, "NAME")?;
    let raw = match p.child()? {
        None => return Ok((name, e.pos, Raw::Null)),
        Some(c) => {
            let r = match c.name {
                b"VALUE" => match p.value_typed(&c, &CimType::String)? {
                    Value::String(s) => Raw::Text(s),
                    _ => Raw::Null,
                },
                b"VALUE.ARRAY" => Raw::Array(p.string_array(&c)?),
                b"VALUE.REFERENCE" => Raw::Reference(p.parse_value_reference(&c)?),
                b"INSTANCENAME" => Raw::InstanceName(p.parse_instance_name(&c)?),
                b"CLASSNAME" => Raw::ClassName(p.parse_class_name(&c)?),
                b"QUALIFIER.DECLARATION" => Raw::QualifierDecl(p.parse_qualifier_decl(&c)?),
                b"CLASS" => Raw::Class(p.parse_class(&c)?),
                b"INSTANCE" => Raw::Instance(p.parse_instance(&c)?),
                b"VALUE.NAMEDINSTANCE" => Raw::NamedInstance(p.parse_value_named_instance(&c)?),
                _ => return Err(p.err(&c, "not allowed in IPARAMVALUE")),
            };
            p.no_children(e)?;
            r
        }
    };
    Ok((name, e.pos, raw))
}

/// `<!ELEMENT IMETHODCALL (LOCALNAMESPACEPATH,IPARAMVALUE*,RESPONSEDESTINATION?)>
/// <!ATTLIST IMETHODCALL %CIMName;>`
pub(super) fn parse_imethod_call<'a>(p: &mut Parser<'a>, e: &Elem<'a>) -> Result<IMethodCall> {
    let method = p.attr_req(e, "NAME")?;
    let ns = p.required_child(e, "LOCALNAMESPACEPATH")?;
    let namespace = p.parse_local_namespace_path(&ns)?;
    let mut list = Vec::new();
    while let Some(c) = p.child()? {
        if c.name != b"IPARAMVALUE" {
            return Err(p.err(&c, "not allowed in IMETHODCALL"));
        }
        list.push(Some(parse_iparam(p, &c)?));
    }
    let mut ps = Params {
        method: method.clone(),
        call_pos: e.pos,
        list,
    };
    let operation = build_operation(&mut ps, &method, e.pos)?;
    ps.finish()?;
    Ok(IMethodCall {
        namespace,
        operation,
    })
}

/// Builds the operation with DSP0200 1.4's defaults for absent parameters.
fn build_operation(p: &mut Params, method: &str, pos: u64) -> Result<Operation> {
    use Operation as O;
    let op = match method.to_ascii_lowercase().as_str() {
        // §5.3.2.1 GetClass: LocalOnly=true, IncludeQualifiers=true, IncludeClassOrigin=false.
        "getclass" => O::GetClass {
            class_name: p.class_name("ClassName")?,
            local_only: p.boolean("LocalOnly", true)?,
            include_qualifiers: p.boolean("IncludeQualifiers", true)?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
            property_list: p.property_list()?,
        },
        // §5.3.2.9 EnumerateClasses: DeepInheritance=false, LocalOnly=true,
        // IncludeQualifiers=true, IncludeClassOrigin=false.
        "enumerateclasses" => O::EnumerateClasses {
            class_name: p.opt_class_name("ClassName")?,
            deep_inheritance: p.boolean("DeepInheritance", false)?,
            local_only: p.boolean("LocalOnly", true)?,
            include_qualifiers: p.boolean("IncludeQualifiers", true)?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
        },
        // §5.3.2.10 EnumerateClassNames: DeepInheritance=false.
        "enumerateclassnames" => O::EnumerateClassNames {
            class_name: p.opt_class_name("ClassName")?,
            deep_inheritance: p.boolean("DeepInheritance", false)?,
        },
        "createclass" => O::CreateClass {
            new_class: p.class("NewClass")?,
        },
        "modifyclass" => O::ModifyClass {
            modified_class: p.class("ModifiedClass")?,
        },
        "deleteclass" => O::DeleteClass {
            class_name: p.class_name("ClassName")?,
        },
        // §5.3.2.2 GetInstance: LocalOnly=true (deprecated), IncludeQualifiers=false,
        // IncludeClassOrigin=false.
        "getinstance" => O::GetInstance {
            instance_name: p.instance_name("InstanceName")?,
            local_only: p.boolean("LocalOnly", true)?,
            include_qualifiers: p.boolean("IncludeQualifiers", false)?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
            property_list: p.property_list()?,
        },
        // §5.3.2.11 EnumerateInstances: LocalOnly=true, DeepInheritance=true,
        // IncludeQualifiers=false, IncludeClassOrigin=false.
        "enumerateinstances" => O::EnumerateInstances {
            class_name: p.class_name("ClassName")?,
            local_only: p.boolean("LocalOnly", true)?,
            deep_inheritance: p.boolean("DeepInheritance", true)?,
            include_qualifiers: p.boolean("IncludeQualifiers", false)?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
            property_list: p.property_list()?,
        },
        "enumerateinstancenames" => O::EnumerateInstanceNames {
            class_name: p.class_name("ClassName")?,
        },
        "createinstance" => O::CreateInstance {
            new_instance: p.instance("NewInstance")?,
        },
        // §5.3.2.8 ModifyInstance: IncludeQualifiers=true, PropertyList=NULL.
        "modifyinstance" => O::ModifyInstance {
            modified_instance: p.named_instance("ModifiedInstance")?,
            include_qualifiers: p.boolean("IncludeQualifiers", true)?,
            property_list: p.property_list()?,
        },
        "deleteinstance" => O::DeleteInstance {
            instance_name: p.instance_name("InstanceName")?,
        },
        // §5.3.2.14 Associators: IncludeQualifiers=false, IncludeClassOrigin=false.
        "associators" => O::Associators {
            object_name: p.object_name("ObjectName")?,
            assoc_class: p.opt_class_name("AssocClass")?,
            result_class: p.opt_class_name("ResultClass")?,
            role: p.opt_string("Role")?,
            result_role: p.opt_string("ResultRole")?,
            include_qualifiers: p.boolean("IncludeQualifiers", false)?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
            property_list: p.property_list()?,
        },
        "associatornames" => O::AssociatorNames {
            object_name: p.object_name("ObjectName")?,
            assoc_class: p.opt_class_name("AssocClass")?,
            result_class: p.opt_class_name("ResultClass")?,
            role: p.opt_string("Role")?,
            result_role: p.opt_string("ResultRole")?,
        },
        "references" => O::References {
            object_name: p.object_name("ObjectName")?,
            result_class: p.opt_class_name("ResultClass")?,
            role: p.opt_string("Role")?,
            include_qualifiers: p.boolean("IncludeQualifiers", false)?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
            property_list: p.property_list()?,
        },
        "referencenames" => O::ReferenceNames {
            object_name: p.object_name("ObjectName")?,
            result_class: p.opt_class_name("ResultClass")?,
            role: p.opt_string("Role")?,
        },
        "getproperty" => O::GetProperty {
            instance_name: p.instance_name("InstanceName")?,
            property_name: p.cim_name("PropertyName")?,
        },
        "setproperty" => O::SetProperty {
            instance_name: p.instance_name("InstanceName")?,
            property_name: p.cim_name("PropertyName")?,
            new_value: p.new_value()?,
        },
        "execquery" => O::ExecQuery {
            query_language: p.string("QueryLanguage")?,
            query: p.string("Query")?,
        },
        "getqualifier" => O::GetQualifier {
            qualifier_name: p.cim_name("QualifierName")?,
        },
        "setqualifier" => O::SetQualifier {
            qualifier_declaration: p.qualifier_decl("QualifierDeclaration")?,
        },
        "deletequalifier" => O::DeleteQualifier {
            qualifier_name: p.cim_name("QualifierName")?,
        },
        "enumeratequalifiers" => O::EnumerateQualifiers,
        // §5.3.2.3 OpenEnumerateInstances: DeepInheritance=true, IncludeClassOrigin=false.
        "openenumerateinstances" => O::OpenEnumerateInstances {
            class_name: p.class_name("ClassName")?,
            deep_inheritance: p.boolean("DeepInheritance", true)?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
            property_list: p.property_list()?,
            pull: p.pull()?,
        },
        "openenumerateinstancepaths" => O::OpenEnumerateInstancePaths {
            class_name: p.class_name("ClassName")?,
            pull: p.pull()?,
        },
        "openassociatorinstances" => O::OpenAssociatorInstances {
            instance_name: p.instance_name("InstanceName")?,
            assoc_class: p.opt_class_name("AssocClass")?,
            result_class: p.opt_class_name("ResultClass")?,
            role: p.opt_string("Role")?,
            result_role: p.opt_string("ResultRole")?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
            property_list: p.property_list()?,
            pull: p.pull()?,
        },
        "openassociatorinstancepaths" => O::OpenAssociatorInstancePaths {
            instance_name: p.instance_name("InstanceName")?,
            assoc_class: p.opt_class_name("AssocClass")?,
            result_class: p.opt_class_name("ResultClass")?,
            role: p.opt_string("Role")?,
            result_role: p.opt_string("ResultRole")?,
            pull: p.pull()?,
        },
        "openreferenceinstances" => O::OpenReferenceInstances {
            instance_name: p.instance_name("InstanceName")?,
            result_class: p.opt_class_name("ResultClass")?,
            role: p.opt_string("Role")?,
            include_class_origin: p.boolean("IncludeClassOrigin", false)?,
            property_list: p.property_list()?,
            pull: p.pull()?,
        },
        "openreferenceinstancepaths" => O::OpenReferenceInstancePaths {
            instance_name: p.instance_name("InstanceName")?,
            result_class: p.opt_class_name("ResultClass")?,
            role: p.opt_string("Role")?,
            pull: p.pull()?,
        },
        // §5.3.2.9 OpenQueryInstances: FilterQuery and FilterQueryLanguage are
        // required here; ReturnQueryResultClass defaults to false.
        "openqueryinstances" => {
            let filter_query = p.string("FilterQuery")?;
            let filter_query_language = p.string("FilterQueryLanguage")?;
            let return_query_result_class = p.boolean("ReturnQueryResultClass", false)?;
            let pull = p.pull()?;
            O::OpenQueryInstances {
                filter_query_language,
                filter_query,
                return_query_result_class,
                pull,
            }
        }
        "pullinstanceswithpath" => O::PullInstancesWithPath {
            enumeration_context: p.string("EnumerationContext")?,
            max_object_count: p.uint32("MaxObjectCount", None)?,
        },
        "pullinstancepaths" => O::PullInstancePaths {
            enumeration_context: p.string("EnumerationContext")?,
            max_object_count: p.uint32("MaxObjectCount", None)?,
        },
        "pullinstances" => O::PullInstances {
            enumeration_context: p.string("EnumerationContext")?,
            max_object_count: p.uint32("MaxObjectCount", None)?,
        },
        "closeenumeration" => O::CloseEnumeration {
            enumeration_context: p.string("EnumerationContext")?,
        },
        "enumerationcount" => O::EnumerationCount {
            enumeration_context: p.string("EnumerationContext")?,
        },
        _ => {
            return Err(Error::UnknownMethod {
                name: method.to_owned(),
                position: pos,
            })
        }
    };
    Ok(op)
}
