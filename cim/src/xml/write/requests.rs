//! Writing requests: `SIMPLEREQ` with `IMETHODCALL` (one `IPARAMVALUE` per
//! intrinsic parameter) or `METHODCALL` with its `PARAMVALUE`s.

use super::classes::write_class;
use super::instances::{write_instance, write_value_named_instance};
use super::markup::{attr, raw, text_element};
use super::paths::{local_namespace_path, write_class_name, write_instance_name};
use super::qualifiers::write_qualifier_decl;
use super::values::{embedded_attr, value_refarray, write_value};
use crate::name::CimName;
use crate::ops::{IMethodCall, MethodCall, Operation, ParamValue, PullParams};
use crate::path::ObjectPath;
use crate::types::CimType;
use crate::value::Value;

/// An `IPARAMVALUE` writer: one call per parameter.
pub(super) struct IParams<'a> {
    out: &'a mut Vec<u8>,
}

impl IParams<'_> {
    fn start(&mut self, name: &str) {
        raw(self.out, "<IPARAMVALUE");
        attr(self.out, "NAME", name);
        self.out.push(b'>');
    }
    fn end(&mut self) {
        raw(self.out, "</IPARAMVALUE>");
    }
    fn boolean(&mut self, name: &str, v: bool) {
        self.start(name);
        raw(
            self.out,
            if v {
                "<VALUE>TRUE</VALUE>"
            } else {
                "<VALUE>FALSE</VALUE>"
            },
        );
        self.end();
    }
    fn string(&mut self, name: &str, v: &str) {
        self.start(name);
        text_element(self.out, "VALUE", v);
        self.end();
    }
    fn opt_string(&mut self, name: &str, v: &Option<String>) {
        if let Some(s) = v {
            self.string(name, s);
        }
    }
    fn uint(&mut self, name: &str, v: u32) {
        self.start(name);
        raw(self.out, "<VALUE>");
        raw(self.out, itoa::Buffer::new().format(v));
        raw(self.out, "</VALUE>");
        self.end();
    }
    fn class_name(&mut self, name: &str, v: &CimName) {
        self.start(name);
        write_class_name(v, self.out);
        self.end();
    }
    fn opt_class_name(&mut self, name: &str, v: &Option<CimName>) {
        if let Some(c) = v {
            self.class_name(name, c);
        }
    }
    fn instance_name(&mut self, name: &str, v: &ObjectPath) {
        self.start(name);
        write_instance_name(v, self.out);
        self.end();
    }
    /// `ObjectName`: an `INSTANCENAME`, or a `CLASSNAME` for a keyless path.
    fn object_name(&mut self, name: &str, v: &ObjectPath) {
        if v.keys.is_empty() {
            self.class_name(name, &v.class_name);
        } else {
            self.instance_name(name, v);
        }
    }
    fn property_list(&mut self, v: &Option<Vec<CimName>>) {
        if let Some(list) = v {
            self.start("PropertyList");
            raw(self.out, "<VALUE.ARRAY>");
            for p in list {
                text_element(self.out, "VALUE", p.as_str());
            }
            raw(self.out, "</VALUE.ARRAY>");
            self.end();
        }
    }
    fn pull(&mut self, p: &PullParams) {
        self.opt_string("FilterQueryLanguage", &p.filter_query_language);
        self.opt_string("FilterQuery", &p.filter_query);
        if let Some(t) = p.operation_timeout {
            self.uint("OperationTimeout", t);
        }
        self.boolean("ContinueOnError", p.continue_on_error);
        self.uint("MaxObjectCount", p.max_object_count);
    }
}

pub(super) fn imethod_call(out: &mut Vec<u8>, call: &IMethodCall) {
    let op = &call.operation;
    raw(out, "<IMETHODCALL");
    attr(out, "NAME", op.name());
    out.push(b'>');
    local_namespace_path(out, &call.namespace);
    let mut w = IParams { out };
    use Operation as O;
    match op {
        O::GetClass {
            class_name,
            local_only,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.class_name("ClassName", class_name);
            w.boolean("LocalOnly", *local_only);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::EnumerateClasses {
            class_name,
            deep_inheritance,
            local_only,
            include_qualifiers,
            include_class_origin,
        } => {
            w.opt_class_name("ClassName", class_name);
            w.boolean("DeepInheritance", *deep_inheritance);
            w.boolean("LocalOnly", *local_only);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
        }
        O::EnumerateClassNames {
            class_name,
            deep_inheritance,
        } => {
            w.opt_class_name("ClassName", class_name);
            w.boolean("DeepInheritance", *deep_inheritance);
        }
        O::CreateClass { new_class } => {
            w.start("NewClass");
            write_class(new_class, w.out);
            w.end();
        }
        O::ModifyClass { modified_class } => {
            w.start("ModifiedClass");
            write_class(modified_class, w.out);
            w.end();
        }
        O::DeleteClass { class_name } => w.class_name("ClassName", class_name),
        O::GetInstance {
            instance_name,
            local_only,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.boolean("LocalOnly", *local_only);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::EnumerateInstances {
            class_name,
            local_only,
            deep_inheritance,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.class_name("ClassName", class_name);
            w.boolean("LocalOnly", *local_only);
            w.boolean("DeepInheritance", *deep_inheritance);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::EnumerateInstanceNames { class_name } => w.class_name("ClassName", class_name),
        O::CreateInstance { new_instance } => {
            w.start("NewInstance");
            write_instance(new_instance, w.out);
            w.end();
        }
        O::ModifyInstance {
            modified_instance,
            include_qualifiers,
            property_list,
        } => {
            w.start("ModifiedInstance");
            write_value_named_instance(modified_instance, w.out);
            w.end();
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.property_list(property_list);
        }
        O::DeleteInstance { instance_name } => w.instance_name("InstanceName", instance_name),
        O::Associators {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.object_name("ObjectName", object_name);
            w.opt_class_name("AssocClass", assoc_class);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.opt_string("ResultRole", result_role);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::AssociatorNames {
            object_name,
            assoc_class,
            result_class,
            role,
            result_role,
        } => {
            w.object_name("ObjectName", object_name);
            w.opt_class_name("AssocClass", assoc_class);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.opt_string("ResultRole", result_role);
        }
        O::References {
            object_name,
            result_class,
            role,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            w.object_name("ObjectName", object_name);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.boolean("IncludeQualifiers", *include_qualifiers);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
        }
        O::ReferenceNames {
            object_name,
            result_class,
            role,
        } => {
            w.object_name("ObjectName", object_name);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
        }
        O::GetProperty {
            instance_name,
            property_name,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.string("PropertyName", property_name.as_str());
        }
        O::SetProperty {
            instance_name,
            property_name,
            new_value,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.string("PropertyName", property_name.as_str());
            if !new_value.is_null() {
                w.start("NewValue");
                write_value(new_value, w.out);
                w.end();
            }
        }
        O::ExecQuery {
            query_language,
            query,
        } => {
            w.string("QueryLanguage", query_language);
            w.string("Query", query);
        }
        O::GetQualifier { qualifier_name } | O::DeleteQualifier { qualifier_name } => {
            w.string("QualifierName", qualifier_name.as_str())
        }
        O::SetQualifier {
            qualifier_declaration,
        } => {
            w.start("QualifierDeclaration");
            write_qualifier_decl(qualifier_declaration, w.out);
            w.end();
        }
        O::EnumerateQualifiers => {}
        O::OpenEnumerateInstances {
            class_name,
            deep_inheritance,
            include_class_origin,
            property_list,
            pull,
        } => {
            w.class_name("ClassName", class_name);
            w.boolean("DeepInheritance", *deep_inheritance);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
            w.pull(pull);
        }
        O::OpenEnumerateInstancePaths { class_name, pull } => {
            w.class_name("ClassName", class_name);
            w.pull(pull);
        }
        O::OpenAssociatorInstances {
            instance_name,
            assoc_class,
            result_class,
            role,
            result_role,
            include_class_origin,
            property_list,
            pull,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.opt_class_name("AssocClass", assoc_class);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.opt_string("ResultRole", result_role);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
            w.pull(pull);
        }
        O::OpenAssociatorInstancePaths {
            instance_name,
            assoc_class,
            result_class,
            role,
            result_role,
            pull,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.opt_class_name("AssocClass", assoc_class);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.opt_string("ResultRole", result_role);
            w.pull(pull);
        }
        O::OpenReferenceInstances {
            instance_name,
            result_class,
            role,
            include_class_origin,
            property_list,
            pull,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.boolean("IncludeClassOrigin", *include_class_origin);
            w.property_list(property_list);
            w.pull(pull);
        }
        O::OpenReferenceInstancePaths {
            instance_name,
            result_class,
            role,
            pull,
        } => {
            w.instance_name("InstanceName", instance_name);
            w.opt_class_name("ResultClass", result_class);
            w.opt_string("Role", role);
            w.pull(pull);
        }
        O::OpenQueryInstances {
            filter_query_language,
            filter_query,
            return_query_result_class,
            pull,
        } => {
            w.string("FilterQueryLanguage", filter_query_language);
            w.string("FilterQuery", filter_query);
            w.boolean("ReturnQueryResultClass", *return_query_result_class);
            // FilterQuery* are already written: only the common rest of `pull`.
            if let Some(t) = pull.operation_timeout {
                w.uint("OperationTimeout", t);
            }
            w.boolean("ContinueOnError", pull.continue_on_error);
            w.uint("MaxObjectCount", pull.max_object_count);
        }
        O::PullInstancesWithPath {
            enumeration_context,
            max_object_count,
        }
        | O::PullInstancePaths {
            enumeration_context,
            max_object_count,
        }
        | O::PullInstances {
            enumeration_context,
            max_object_count,
        } => {
            w.string("EnumerationContext", enumeration_context);
            w.uint("MaxObjectCount", *max_object_count);
        }
        O::CloseEnumeration {
            enumeration_context,
        }
        | O::EnumerationCount {
            enumeration_context,
        } => w.string("EnumerationContext", enumeration_context),
    }
    raw(out, "</IMETHODCALL>");
}

/// `PARAMTYPE` (and `EmbeddedObject`) attributes of a `PARAMVALUE` or `RETURNVALUE`.
pub(super) fn param_type_attrs(out: &mut Vec<u8>, ty: Option<&CimType>, value: &Value) {
    let inferred;
    let ty = match ty {
        Some(t) => Some(t),
        None => {
            inferred = value.cim_type();
            inferred.as_ref()
        }
    };
    if let Some(t) = ty {
        attr(out, "PARAMTYPE", t.xml_name());
        embedded_attr(out, t, value);
    }
}

pub(super) fn param_value(out: &mut Vec<u8>, p: &ParamValue) {
    raw(out, "<PARAMVALUE");
    attr(out, "NAME", p.name.as_str());
    param_type_attrs(out, p.ty.as_ref(), &p.value);
    out.push(b'>');
    match (&p.ty, &p.value) {
        // A reference array stays a VALUE.REFARRAY even when empty or all NULL.
        (Some(CimType::Reference(_)), Value::Array(items)) => value_refarray(out, items),
        (_, v) => write_value(v, out),
    }
    raw(out, "</PARAMVALUE>");
}

pub(super) fn method_call(out: &mut Vec<u8>, call: &MethodCall) {
    raw(out, "<METHODCALL");
    attr(out, "NAME", call.method.as_str());
    out.push(b'>');
    if call.target.keys.is_empty() {
        raw(out, "<LOCALCLASSPATH>");
        local_namespace_path(out, &call.namespace);
        write_class_name(&call.target.class_name, out);
        raw(out, "</LOCALCLASSPATH>");
    } else {
        raw(out, "<LOCALINSTANCEPATH>");
        local_namespace_path(out, &call.namespace);
        write_instance_name(&call.target, out);
        raw(out, "</LOCALINSTANCEPATH>");
    }
    for p in &call.params {
        param_value(out, p);
    }
    raw(out, "</METHODCALL>");
}
