//! Typed DSP0200 operations: what a CIM-XML message asks for and what it answers.
//!
//! The XML reader turns a `<MESSAGE>` into a [`Message`]; the object manager
//! dispatches its [`Operation`] or [`MethodCall`] and answers with a
//! [`Response`] or [`MethodResult`]; the XML writer renders the answer. The
//! client does the same in the other direction. Variant and field names follow
//! DSP0200 (`GetInstance`, `IncludeQualifiers`, ...) so `CIMMethod` headers and
//! `IPARAMVALUE NAME`s map by name. Defaults are DSP0200 1.4's.

use crate::class::Class;
use crate::instance::Instance;
use crate::name::CimName;
use crate::path::ObjectPath;
use crate::qualifier::QualifierDecl;
use crate::status::CimError;
use crate::types::CimType;
use crate::value::Value;

/// A whole CIM-XML message (`<CIM><MESSAGE ID=.. PROTOCOLVERSION=..>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The `MESSAGE ID` attribute, echoed in the response.
    pub id: String,
    /// The `PROTOCOLVERSION` attribute (`1.0`).
    pub protocol_version: String,
    /// What the message carries.
    pub body: MessageBody,
}

/// The payload of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageBody {
    /// `SIMPLEREQ/IMETHODCALL`: an intrinsic operation on a namespace.
    IMethodCall(IMethodCall),
    /// `SIMPLEREQ/METHODCALL`: an extrinsic method call.
    MethodCall(MethodCall),
    /// `SIMPLERSP/IMETHODRESPONSE`.
    IMethodResponse(IMethodResponse),
    /// `SIMPLERSP/METHODRESPONSE`.
    MethodResponse(MethodResponse),
    /// `SIMPLEEXPREQ/EXPMETHODCALL NAME="ExportIndication"`.
    ExportIndication(Instance),
    /// `SIMPLEEXPRSP/EXPMETHODRESPONSE`: `Ok` for an empty return, or the listener's error.
    ExportResponse(Result<(), CimError>),
}

/// An intrinsic operation addressed to a namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct IMethodCall {
    /// Target namespace (`LOCALNAMESPACEPATH`), slash-separated, e.g. `root/cimv2`.
    pub namespace: String,
    /// The operation and its parameters.
    pub operation: Operation,
}

/// Parameters shared by the `Open*` pull operations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PullParams {
    /// `FilterQueryLanguage` (filtered enumeration; may be refused).
    pub filter_query_language: Option<String>,
    /// `FilterQuery`.
    pub filter_query: Option<String>,
    /// `OperationTimeout` in seconds (`None` = server default).
    pub operation_timeout: Option<u32>,
    /// `ContinueOnError`.
    pub continue_on_error: bool,
    /// `MaxObjectCount` for the first response (default 0).
    pub max_object_count: u32,
}

/// Every DSP0200 intrinsic operation with its parameters.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // Field names are DSP0200's parameter names in snake_case.
pub enum Operation {
    GetClass {
        class_name: CimName,
        local_only: bool,
        include_qualifiers: bool,
        include_class_origin: bool,
        property_list: Option<Vec<CimName>>,
    },
    EnumerateClasses {
        class_name: Option<CimName>,
        deep_inheritance: bool,
        local_only: bool,
        include_qualifiers: bool,
        include_class_origin: bool,
    },
    EnumerateClassNames {
        class_name: Option<CimName>,
        deep_inheritance: bool,
    },
    CreateClass {
        new_class: Class,
    },
    ModifyClass {
        modified_class: Class,
    },
    DeleteClass {
        class_name: CimName,
    },
    GetInstance {
        instance_name: ObjectPath,
        local_only: bool,
        include_qualifiers: bool,
        include_class_origin: bool,
        property_list: Option<Vec<CimName>>,
    },
    EnumerateInstances {
        class_name: CimName,
        local_only: bool,
        deep_inheritance: bool,
        include_qualifiers: bool,
        include_class_origin: bool,
        property_list: Option<Vec<CimName>>,
    },
    EnumerateInstanceNames {
        class_name: CimName,
    },
    CreateInstance {
        new_instance: Instance,
    },
    /// `modified_instance.path` holds the `ModifiedInstance` instance name.
    ModifyInstance {
        modified_instance: Instance,
        include_qualifiers: bool,
        property_list: Option<Vec<CimName>>,
    },
    DeleteInstance {
        instance_name: ObjectPath,
    },
    Associators {
        object_name: ObjectPath,
        assoc_class: Option<CimName>,
        result_class: Option<CimName>,
        role: Option<String>,
        result_role: Option<String>,
        include_qualifiers: bool,
        include_class_origin: bool,
        property_list: Option<Vec<CimName>>,
    },
    AssociatorNames {
        object_name: ObjectPath,
        assoc_class: Option<CimName>,
        result_class: Option<CimName>,
        role: Option<String>,
        result_role: Option<String>,
    },
    References {
        object_name: ObjectPath,
        result_class: Option<CimName>,
        role: Option<String>,
        include_qualifiers: bool,
        include_class_origin: bool,
        property_list: Option<Vec<CimName>>,
    },
    ReferenceNames {
        object_name: ObjectPath,
        result_class: Option<CimName>,
        role: Option<String>,
    },
    GetProperty {
        instance_name: ObjectPath,
        property_name: CimName,
    },
    SetProperty {
        instance_name: ObjectPath,
        property_name: CimName,
        new_value: Value,
    },
    ExecQuery {
        query_language: String,
        query: String,
    },
    GetQualifier {
        qualifier_name: CimName,
    },
    SetQualifier {
        qualifier_declaration: QualifierDecl,
    },
    DeleteQualifier {
        qualifier_name: CimName,
    },
    EnumerateQualifiers,
    OpenEnumerateInstances {
        class_name: CimName,
        deep_inheritance: bool,
        include_class_origin: bool,
        property_list: Option<Vec<CimName>>,
        pull: PullParams,
    },
    OpenEnumerateInstancePaths {
        class_name: CimName,
        pull: PullParams,
    },
    OpenAssociatorInstances {
        instance_name: ObjectPath,
        assoc_class: Option<CimName>,
        result_class: Option<CimName>,
        role: Option<String>,
        result_role: Option<String>,
        include_class_origin: bool,
        property_list: Option<Vec<CimName>>,
        pull: PullParams,
    },
    OpenAssociatorInstancePaths {
        instance_name: ObjectPath,
        assoc_class: Option<CimName>,
        result_class: Option<CimName>,
        role: Option<String>,
        result_role: Option<String>,
        pull: PullParams,
    },
    OpenReferenceInstances {
        instance_name: ObjectPath,
        result_class: Option<CimName>,
        role: Option<String>,
        include_class_origin: bool,
        property_list: Option<Vec<CimName>>,
        pull: PullParams,
    },
    OpenReferenceInstancePaths {
        instance_name: ObjectPath,
        result_class: Option<CimName>,
        role: Option<String>,
        pull: PullParams,
    },
    OpenQueryInstances {
        filter_query_language: String,
        filter_query: String,
        return_query_result_class: bool,
        pull: PullParams,
    },
    PullInstancesWithPath {
        enumeration_context: String,
        max_object_count: u32,
    },
    PullInstancePaths {
        enumeration_context: String,
        max_object_count: u32,
    },
    PullInstances {
        enumeration_context: String,
        max_object_count: u32,
    },
    CloseEnumeration {
        enumeration_context: String,
    },
    EnumerationCount {
        enumeration_context: String,
    },
}

impl Operation {
    /// The DSP0200 operation name, as in the `CIMMethod` header and `IMETHODCALL NAME`.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::GetClass { .. } => "GetClass",
            Operation::EnumerateClasses { .. } => "EnumerateClasses",
            Operation::EnumerateClassNames { .. } => "EnumerateClassNames",
            Operation::CreateClass { .. } => "CreateClass",
            Operation::ModifyClass { .. } => "ModifyClass",
            Operation::DeleteClass { .. } => "DeleteClass",
            Operation::GetInstance { .. } => "GetInstance",
            Operation::EnumerateInstances { .. } => "EnumerateInstances",
            Operation::EnumerateInstanceNames { .. } => "EnumerateInstanceNames",
            Operation::CreateInstance { .. } => "CreateInstance",
            Operation::ModifyInstance { .. } => "ModifyInstance",
            Operation::DeleteInstance { .. } => "DeleteInstance",
            Operation::Associators { .. } => "Associators",
            Operation::AssociatorNames { .. } => "AssociatorNames",
            Operation::References { .. } => "References",
            Operation::ReferenceNames { .. } => "ReferenceNames",
            Operation::GetProperty { .. } => "GetProperty",
            Operation::SetProperty { .. } => "SetProperty",
            Operation::ExecQuery { .. } => "ExecQuery",
            Operation::GetQualifier { .. } => "GetQualifier",
            Operation::SetQualifier { .. } => "SetQualifier",
            Operation::DeleteQualifier { .. } => "DeleteQualifier",
            Operation::EnumerateQualifiers => "EnumerateQualifiers",
            Operation::OpenEnumerateInstances { .. } => "OpenEnumerateInstances",
            Operation::OpenEnumerateInstancePaths { .. } => "OpenEnumerateInstancePaths",
            Operation::OpenAssociatorInstances { .. } => "OpenAssociatorInstances",
            Operation::OpenAssociatorInstancePaths { .. } => "OpenAssociatorInstancePaths",
            Operation::OpenReferenceInstances { .. } => "OpenReferenceInstances",
            Operation::OpenReferenceInstancePaths { .. } => "OpenReferenceInstancePaths",
            Operation::OpenQueryInstances { .. } => "OpenQueryInstances",
            Operation::PullInstancesWithPath { .. } => "PullInstancesWithPath",
            Operation::PullInstancePaths { .. } => "PullInstancePaths",
            Operation::PullInstances { .. } => "PullInstances",
            Operation::CloseEnumeration { .. } => "CloseEnumeration",
            Operation::EnumerationCount { .. } => "EnumerationCount",
        }
    }
}

/// A class or an instance, as `VALUE.OBJECT*` elements carry.
#[derive(Debug, Clone, PartialEq)]
pub enum CimObject {
    /// A class.
    Class(Class),
    /// An instance.
    Instance(Instance),
}

/// The result of a pull operation (`Open*`, `Pull*`).
#[derive(Debug, Clone, PartialEq)]
pub struct PullResult {
    /// The items of this response.
    pub items: PullItems,
    /// `EndOfSequence`.
    pub end_of_sequence: bool,
    /// `EnumerationContext` (absent or ignored when the sequence ended).
    pub enumeration_context: Option<String>,
    /// `QueryResultClass` of `OpenQueryInstances`, when asked for.
    pub query_result_class: Option<Class>,
}

/// Items returned by a pull operation.
#[derive(Debug, Clone, PartialEq)]
pub enum PullItems {
    /// `VALUE.INSTANCEWITHPATH*` (each instance has its `path` set).
    InstancesWithPath(Vec<Instance>),
    /// `INSTANCEPATH*`.
    InstancePaths(Vec<ObjectPath>),
    /// `INSTANCE*` (OpenQueryInstances, PullInstances).
    Instances(Vec<Instance>),
    /// `VALUE.INSTANCEWITHPATH*` already rendered: an object manager pages
    /// its cached rendering of an enumeration this way, without decoding or
    /// rendering the instances again. The XML reader never produces it.
    Rendered(RenderedItems),
}

/// Consecutive items of a rendered enumeration: item `i` is
/// `text[ends[i - 1]..ends[i]]` (from 0 for the first), and these are the
/// items `first..last` of it. The text and the ends are shared by every page
/// and every enumeration context that holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedItems {
    /// The rendered elements, one after another.
    pub text: std::sync::Arc<Vec<u8>>,
    /// The end offset of each element in `text`.
    pub ends: std::sync::Arc<Vec<usize>>,
    /// The first item of these.
    pub first: usize,
    /// One past the last item of these.
    pub last: usize,
}

impl RenderedItems {
    /// Every item of a rendering.
    pub fn all(text: std::sync::Arc<Vec<u8>>, ends: std::sync::Arc<Vec<usize>>) -> RenderedItems {
        let last = ends.len();
        RenderedItems {
            text,
            ends,
            first: 0,
            last,
        }
    }

    /// How many items these are.
    pub fn len(&self) -> usize {
        self.last - self.first
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.first == self.last
    }

    /// Splits off the first `n` items (all when fewer).
    pub fn split_front(&mut self, n: usize) -> RenderedItems {
        let mid = self.first + n.min(self.len());
        let front = RenderedItems {
            first: self.first,
            last: mid,
            ..self.clone()
        };
        self.first = mid;
        front
    }

    /// The text of these items.
    pub fn bytes(&self) -> &[u8] {
        if self.is_empty() {
            return &[];
        }
        let start = if self.first == 0 {
            0
        } else {
            self.ends[self.first - 1]
        };
        &self.text[start..self.ends[self.last - 1]]
    }
}

/// What an intrinsic operation returns (the content of `IRETURNVALUE`, plus
/// the output `PARAMVALUE`s of pull operations).
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// No `IRETURNVALUE` (CreateClass, ModifyClass, Delete*, SetProperty, SetQualifier, ...).
    Empty,
    /// `CLASS` (GetClass).
    Class(Class),
    /// `CLASS*` (EnumerateClasses).
    Classes(Vec<Class>),
    /// `CLASSNAME*` (EnumerateClassNames).
    ClassNames(Vec<CimName>),
    /// `INSTANCE` (GetInstance).
    Instance(Instance),
    /// `VALUE.NAMEDINSTANCE*` (EnumerateInstances); each instance has its `path`.
    NamedInstances(Vec<Instance>),
    /// `VALUE.NAMEDINSTANCE*` (EnumerateInstances) from instances shared with
    /// a cache, written exactly as [`Response::NamedInstances`]; a server
    /// produces it to answer without copying each instance, and a reader
    /// never does.
    SharedNamedInstances(Vec<std::sync::Arc<Instance>>),
    /// `INSTANCENAME*` (EnumerateInstanceNames).
    InstanceNames(Vec<ObjectPath>),
    /// `INSTANCENAME` (CreateInstance).
    InstanceName(ObjectPath),
    /// `VALUE.OBJECTWITHPATH*` (Associators, References, ExecQuery).
    ObjectsWithPath(Vec<(ObjectPath, CimObject)>),
    /// `OBJECTPATH*` (AssociatorNames, ReferenceNames).
    ObjectPaths(Vec<ObjectPath>),
    /// A property value (GetProperty): `VALUE`, `VALUE.ARRAY`, `VALUE.REFERENCE` or nothing for NULL.
    PropertyValue(Value),
    /// `QUALIFIER.DECLARATION` (GetQualifier).
    QualifierDecl(QualifierDecl),
    /// `QUALIFIER.DECLARATION*` (EnumerateQualifiers).
    QualifierDecls(Vec<QualifierDecl>),
    /// Pull operations.
    Pull(PullResult),
    /// EnumerationCount: the count, or `None` when unknown (NULL).
    Count(Option<u64>),
    /// The content of `IRETURNVALUE` already rendered as CIM-XML (a server's
    /// cached answer), written as is; a reader never produces it.
    Rendered(std::sync::Arc<Vec<u8>>),
}

/// `IMETHODRESPONSE`: the answer to an intrinsic operation.
#[derive(Debug, Clone, PartialEq)]
pub struct IMethodResponse {
    /// The operation name.
    pub name: String,
    /// The result, or the `ERROR` element.
    pub result: Result<Response, CimError>,
}

/// One `PARAMVALUE` of an extrinsic method call or response.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamValue {
    /// Parameter name.
    pub name: CimName,
    /// `PARAMTYPE` when given (or `reference`/embedded object).
    pub ty: Option<CimType>,
    /// The value (`Null` when absent).
    pub value: Value,
}

impl ParamValue {
    /// A typed parameter value.
    pub fn new(name: impl Into<CimName>, ty: CimType, value: Value) -> Self {
        ParamValue {
            name: name.into(),
            ty: Some(ty),
            value,
        }
    }
}

/// `METHODCALL`: an extrinsic method invoked on an instance or (static) on a class.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// Namespace of the target.
    pub namespace: String,
    /// `LOCALINSTANCEPATH` (instance) or `LOCALCLASSPATH` (class: no keys).
    pub target: ObjectPath,
    /// Method name.
    pub method: CimName,
    /// Input parameters.
    pub params: Vec<ParamValue>,
}

/// A successful extrinsic method result.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResult {
    /// `RETURNVALUE`.
    pub return_value: Value,
    /// `PARAMTYPE` of the return value.
    pub return_type: Option<CimType>,
    /// Output parameters.
    pub out_params: Vec<ParamValue>,
}

/// `METHODRESPONSE`: the answer to an extrinsic method call.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResponse {
    /// Method name.
    pub name: CimName,
    /// The result, or the `ERROR` element.
    pub result: Result<MethodResult, CimError>,
}
