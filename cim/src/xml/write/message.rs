//! Writing the document envelope: the XML declaration, `CIM` and `MESSAGE`
//! around a request, response or export body.

use super::instances::write_instance;
use super::markup::{attr, raw};
use super::requests::{imethod_call, method_call};
use super::responses::{error, imethod_response, method_response};
use crate::ops::{Message, MessageBody};

pub(super) fn xml_head(out: &mut Vec<u8>, id: &str, protocol_version: &str) {
    raw(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE",
    );
    attr(out, "ID", id);
    attr(out, "PROTOCOLVERSION", protocol_version);
    out.push(b'>');
}

pub(super) fn xml_tail(out: &mut Vec<u8>) {
    raw(out, "</MESSAGE></CIM>\n");
}

pub(in crate::xml) fn write_message(msg: &Message, out: &mut Vec<u8>) {
    xml_head(out, &msg.id, &msg.protocol_version);
    match &msg.body {
        MessageBody::IMethodCall(call) => {
            raw(out, "<SIMPLEREQ>");
            imethod_call(out, call);
            raw(out, "</SIMPLEREQ>");
        }
        MessageBody::MethodCall(call) => {
            raw(out, "<SIMPLEREQ>");
            method_call(out, call);
            raw(out, "</SIMPLEREQ>");
        }
        MessageBody::IMethodResponse(resp) => {
            raw(out, "<SIMPLERSP>");
            imethod_response(out, resp);
            raw(out, "</SIMPLERSP>");
        }
        MessageBody::MethodResponse(resp) => {
            raw(out, "<SIMPLERSP>");
            method_response(out, resp);
            raw(out, "</SIMPLERSP>");
        }
        MessageBody::ExportIndication(inst) => {
            raw(
                out,
                "<SIMPLEEXPREQ><EXPMETHODCALL NAME=\"ExportIndication\"><EXPPARAMVALUE NAME=\"NewIndication\">",
            );
            write_instance(inst, out);
            raw(out, "</EXPPARAMVALUE></EXPMETHODCALL></SIMPLEEXPREQ>");
        }
        MessageBody::ExportResponse(result) => {
            raw(
                out,
                "<SIMPLEEXPRSP><EXPMETHODRESPONSE NAME=\"ExportIndication\">",
            );
            match result {
                Ok(()) => raw(out, "<IRETURNVALUE></IRETURNVALUE>"),
                Err(e) => error(out, e),
            }
            raw(out, "</EXPMETHODRESPONSE></SIMPLEEXPRSP>");
        }
    }
    xml_tail(out);
}
