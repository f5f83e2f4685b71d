//! Writing responses: `IMETHODRESPONSE` (whole, or streamed as head, items
//! and tail), pull results with their `EnumerationContext`, `METHODRESPONSE`,
//! and `ERROR`.

use super::classes::write_class;
use super::instances::{
    write_instance, write_value_instance_with_path, write_value_named_instance,
};
use super::markup::{attr, raw, text_element};
use super::message::{xml_head, xml_tail};
use super::paths::{
    class_path, write_class_name, write_instance_name, write_instance_path, write_object_path,
};
use super::qualifiers::write_qualifier_decl;
use super::requests::{param_type_attrs, param_value};
use super::values::{value_element, write_value};
use crate::ops::{CimObject, IMethodResponse, MethodResponse, PullItems, PullResult, Response};
use crate::status::CimError;
use crate::value::Value;

pub(in crate::xml) fn write_imethod_response_head(id: &str, method: &str, out: &mut Vec<u8>) {
    xml_head(out, id, "1.0");
    raw(out, "<SIMPLERSP><IMETHODRESPONSE");
    attr(out, "NAME", method);
    raw(out, "><IRETURNVALUE>");
}

pub(in crate::xml) fn write_imethod_response_tail(out: &mut Vec<u8>) {
    raw(out, "</IRETURNVALUE></IMETHODRESPONSE></SIMPLERSP>");
    xml_tail(out);
}

/// Closes a streamed pull-operation response: `</IRETURNVALUE>`, the
/// `EnumerationContext` and `EndOfSequence` output `PARAMVALUE`s (DSP0200 1.4
/// §5.3.2), then the rest of the document.
pub fn write_pull_response_tail(
    end_of_sequence: bool,
    enumeration_context: Option<&str>,
    out: &mut Vec<u8>,
) {
    raw(out, "</IRETURNVALUE>");
    pull_params(out, end_of_sequence, enumeration_context);
    raw(out, "</IMETHODRESPONSE></SIMPLERSP>");
    xml_tail(out);
}

pub(super) fn pull_params(out: &mut Vec<u8>, end_of_sequence: bool, ctx: Option<&str>) {
    raw(
        out,
        "<PARAMVALUE NAME=\"EnumerationContext\" PARAMTYPE=\"string\">",
    );
    if let Some(c) = ctx {
        text_element(out, "VALUE", c);
    }
    raw(
        out,
        "</PARAMVALUE><PARAMVALUE NAME=\"EndOfSequence\" PARAMTYPE=\"boolean\"><VALUE>",
    );
    raw(out, if end_of_sequence { "TRUE" } else { "FALSE" });
    raw(out, "</VALUE></PARAMVALUE>");
}

pub(super) fn error(out: &mut Vec<u8>, e: &CimError) {
    raw(out, "<ERROR");
    attr(out, "CODE", itoa::Buffer::new().format(e.status.code()));
    if !e.description.is_empty() {
        attr(out, "DESCRIPTION", &e.description);
    }
    raw(out, "/>");
}

pub(super) fn imethod_response(out: &mut Vec<u8>, resp: &IMethodResponse) {
    raw(out, "<IMETHODRESPONSE");
    attr(out, "NAME", &resp.name);
    out.push(b'>');
    match &resp.result {
        Err(e) => error(out, e),
        Ok(r) => response(out, r),
    }
    raw(out, "</IMETHODRESPONSE>");
}

pub(super) fn response(out: &mut Vec<u8>, r: &Response) {
    if matches!(r, Response::Empty) {
        return;
    }
    raw(out, "<IRETURNVALUE>");
    if let Response::Pull(p) = r {
        pull_items(out, p);
        raw(out, "</IRETURNVALUE>");
        pull_params(out, p.end_of_sequence, p.enumeration_context.as_deref());
        if let Some(c) = &p.query_result_class {
            // OpenQueryInstances' QueryResultClass output parameter (DSP0200 1.4 §5.3.2.8).
            raw(out, "<PARAMVALUE NAME=\"QueryResultClass\">");
            write_class(c, out);
            raw(out, "</PARAMVALUE>");
        }
        return;
    }
    write_return_value_items(r, out);
    raw(out, "</IRETURNVALUE>");
}

/// Writes what goes inside `IRETURNVALUE` for `r` (for a pull result only
/// its items): what a server caches as a [`Response::Rendered`] answer.
pub fn write_return_value_items(r: &Response, out: &mut Vec<u8>) {
    match r {
        Response::Empty => {}
        Response::Rendered(b) => out.extend_from_slice(b),
        Response::Class(c) => write_class(c, out),
        Response::Classes(cs) => cs.iter().for_each(|c| write_class(c, out)),
        Response::ClassNames(ns) => ns.iter().for_each(|n| write_class_name(n, out)),
        Response::Instance(i) => write_instance(i, out),
        Response::NamedInstances(is) => is.iter().for_each(|i| write_value_named_instance(i, out)),
        Response::SharedNamedInstances(is) => {
            is.iter().for_each(|i| write_value_named_instance(i, out))
        }
        Response::InstanceNames(ps) => ps.iter().for_each(|p| write_instance_name(p, out)),
        Response::InstanceName(p) => write_instance_name(p, out),
        Response::ObjectsWithPath(objs) => {
            for (path, obj) in objs {
                if path.namespace.is_none() {
                    // No namespace to give: VALUE.NAMEDOBJECT keeps the
                    // instance name, VALUE.OBJECT carries just the object.
                    match obj {
                        CimObject::Instance(i) if !path.keys.is_empty() => {
                            raw(out, "<VALUE.NAMEDOBJECT>");
                            write_instance_name(path, out);
                            write_instance(i, out);
                            raw(out, "</VALUE.NAMEDOBJECT>");
                        }
                        CimObject::Instance(i) => {
                            raw(out, "<VALUE.OBJECT>");
                            write_instance(i, out);
                            raw(out, "</VALUE.OBJECT>");
                        }
                        CimObject::Class(c) => {
                            raw(out, "<VALUE.OBJECT>");
                            write_class(c, out);
                            raw(out, "</VALUE.OBJECT>");
                        }
                    }
                    continue;
                }
                raw(out, "<VALUE.OBJECTWITHPATH>");
                match obj {
                    CimObject::Class(c) => {
                        class_path(out, path);
                        write_class(c, out);
                    }
                    CimObject::Instance(i) => {
                        let mut p = path.clone();
                        if p.namespace.is_none() {
                            p.namespace = Some(String::new());
                        }
                        write_instance_path(&p, out);
                        write_instance(i, out);
                    }
                }
                raw(out, "</VALUE.OBJECTWITHPATH>");
            }
        }
        Response::ObjectPaths(ps) => ps.iter().for_each(|p| write_object_path(p, out)),
        Response::PropertyValue(v) => write_value(v, out),
        Response::QualifierDecl(d) => write_qualifier_decl(d, out),
        Response::QualifierDecls(ds) => ds.iter().for_each(|d| write_qualifier_decl(d, out)),
        Response::Pull(p) => pull_items(out, p),
        Response::Count(c) => {
            if let Some(n) = c {
                value_element(out, &Value::Uint64(*n));
            }
        }
    }
}

pub(super) fn pull_items(out: &mut Vec<u8>, p: &PullResult) {
    match &p.items {
        PullItems::InstancesWithPath(is) => is
            .iter()
            .for_each(|i| write_value_instance_with_path(i, out)),
        PullItems::InstancePaths(ps) => {
            for path in ps {
                let mut q = path.clone();
                if q.namespace.is_none() {
                    q.namespace = Some(String::new());
                }
                write_instance_path(&q, out);
            }
        }
        PullItems::Instances(is) => is.iter().for_each(|i| write_instance(i, out)),
        PullItems::Rendered(r) => out.extend_from_slice(r.bytes()),
    }
}

pub(super) fn method_response(out: &mut Vec<u8>, resp: &MethodResponse) {
    raw(out, "<METHODRESPONSE");
    attr(out, "NAME", resp.name.as_str());
    out.push(b'>');
    match &resp.result {
        Err(e) => error(out, e),
        Ok(r) => {
            raw(out, "<RETURNVALUE");
            param_type_attrs(out, r.return_type.as_ref(), &r.return_value);
            out.push(b'>');
            write_value(&r.return_value, out);
            raw(out, "</RETURNVALUE>");
            for p in &r.out_params {
                param_value(out, p);
            }
        }
    }
    raw(out, "</METHODRESPONSE>");
}
