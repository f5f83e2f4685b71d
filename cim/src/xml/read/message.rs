//! Reading the document envelope: `CIM` and `MESSAGE`, which hand the body to
//! the request, response or export reader.

use super::parser::{Elem, Parser, Result};
use crate::error::Error;
use crate::ops::Message;

impl<'a> Parser<'a> {
    /// `<!ELEMENT CIM (MESSAGE|DECLARATION)> <!ATTLIST CIM CIMVERSION DTDVERSION>`
    pub(super) fn parse_cim(&mut self, e: &Elem<'a>) -> Result<Message> {
        self.expect(e, "CIM")?;
        let [cim_version, dtd_version] = self.attrs(e, ["CIMVERSION", "DTDVERSION"])?;
        let m = self.required_child(e, "MESSAGE")?;
        self.expect(&m, "MESSAGE")?;
        let msg = self.parse_message(&m)?;
        self.no_children(e)?;
        // Checked after the body so that a malformed document is reported as such.
        for (attribute, value) in [("CIMVERSION", cim_version), ("DTDVERSION", dtd_version)] {
            let value =
                value.ok_or_else(|| self.err(e, format!("missing attribute {attribute}")))?;
            // DSP0200: a 2.x document is understood; another major version is refused.
            let major = value.split('.').next().unwrap_or("");
            if major.trim() != "2" {
                return Err(Error::UnsupportedVersion {
                    attribute,
                    version: value.chars().take(40).collect(),
                });
            }
        }
        Ok(msg)
    }

    /// `<!ELEMENT MESSAGE (SIMPLEREQ|MULTIREQ|SIMPLERSP|MULTIRSP|SIMPLEEXPREQ|
    /// MULTIEXPREQ|SIMPLEEXPRSP|MULTIEXPRSP)> <!ATTLIST MESSAGE ID PROTOCOLVERSION>`
    pub(super) fn parse_message(&mut self, e: &Elem<'a>) -> Result<Message> {
        let [id, pv] = self.attrs(e, ["ID", "PROTOCOLVERSION"])?;
        let id = id
            .ok_or_else(|| self.err(e, "missing attribute ID"))?
            .into_owned();
        let protocol_version = pv
            .ok_or_else(|| self.err(e, "missing attribute PROTOCOLVERSION"))?
            .into_owned();
        let b = self.required_child(e, "SIMPLEREQ, SIMPLERSP, SIMPLEEXPREQ or SIMPLEEXPRSP")?;
        let body = match b.name {
            b"SIMPLEREQ" => self.parse_simple_req(&b)?,
            b"SIMPLERSP" => self.parse_simple_rsp(&b)?,
            b"SIMPLEEXPREQ" => self.parse_simple_exp_req(&b)?,
            b"SIMPLEEXPRSP" => self.parse_simple_exp_rsp(&b)?,
            b"MULTIREQ" | b"MULTIRSP" | b"MULTIEXPREQ" | b"MULTIEXPRSP" => {
                return Err(self.err(&b, "multiple-operation messages are not supported"))
            }
            _ => return Err(self.err(&b, "not allowed in MESSAGE")),
        };
        self.no_children(e)?;
        Ok(Message {
            id,
            protocol_version,
            body,
        })
    }
}
