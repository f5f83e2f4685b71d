//! The request decoding stage: from an HTTP request to a typed CIM-XML
//! [`Message`], or a [`RequestError`] answered at the HTTP level.
//!
//! # What is checked, in order (DSP0200 1.4 §7)
//!
//! | check | failure |
//! |---|---|
//! | method is `POST` or `M-POST` | `405 Method Not Allowed` (`Allow: POST, M-POST`) for other standard methods, `501 Not Implemented` for unknown ones |
//! | path is `/cimom` (or `/`) | `404 Not Found` |
//! | `M-POST` carries `Man: http://www.dmtf.org/cim/mapping.http/v1.0;ns=NN` | `510 Not Extended`; the other CIM headers are then read as `NN-CIMOperation`, ... (unprefixed names are tolerated too) |
//! | `CIMOperation: MethodCall` | `400`, `CIMError: unsupported-operation` (also for `CIMExport` requests: this is not a listener) |
//! | `CIMProtocolVersion` major version 1 (absent means 1.0) | `501`, `CIMError: unsupported-protocol-version` |
//! | `Content-Type` absent or `application/xml` / `text/xml` | `415 Unsupported Media Type` |
//! | body size within `--max-request-bytes` | `413 Payload Too Large` |
//! | body is well-formed XML | `400`, `CIMError: request-not-well-formed` |
//! | body is valid DSP0201 (depth within `--max-xml-depth`) | `400`, `CIMError: request-not-valid` |
//! | body is a `SIMPLEREQ`, not a `MULTIREQ` | `501`, `CIMError: multiple-requests-unsupported` |
//! | `MESSAGE PROTOCOLVERSION` is 1.x | `501`, `CIMError: unsupported-protocol-version` |
//! | `CIMMethod` equals the `IMETHODCALL`/`METHODCALL` name; `CIMObject` names the `IMETHODCALL` namespace | `400`, `CIMError: header-mismatch` |
//!
//! Wrong operation parameters and unknown intrinsic methods are not request
//! failures: DSP0200 answers them with `200 OK` and an `<ERROR>`
//! (`CIM_ERR_INVALID_PARAMETER`, `CIM_ERR_NOT_SUPPORTED`), see [`Decoded::Refused`].
//!
//! Tolerated quirks: `CIMObject` is compared after percent-decoding, without
//! leading/trailing slashes and case-insensitively (clients differ on all
//! three); `CIMObject` of extrinsic calls is not compared (its object-path
//! syntax varies between clients).

use cim::ops::{Message, MessageBody};
use http::{HeaderMap, Method, StatusCode};

/// The DMTF extension URI of the `Man` header of `M-POST` requests.
pub const MAN_URI: &str = "http://www.dmtf.org/cim/mapping.http/v1.0";
/// The spelling OpenPegasus, OpenWBEM and SBLIM send in `Man` headers.
pub const MAN_URI_SLASH: &str = "http://www.dmtf.org/cim/mapping/http/v1.0";

/// A request-level failure: an HTTP status, the DSP0200 `CIMError` header
/// value when one applies, and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// HTTP status.
    pub status: StatusCode,
    /// `CIMError` header value (`request-not-well-formed`, ...).
    pub cim_error: Option<&'static str>,
    /// What was wrong (sent as a `PGErrorDetail` header and the body).
    pub detail: String,
}

impl RequestError {
    /// A failure with a `CIMError` header.
    pub fn cim(status: StatusCode, cim_error: &'static str, detail: impl Into<String>) -> Self {
        RequestError {
            status,
            cim_error: Some(cim_error),
            detail: detail.into(),
        }
    }
    /// A plain HTTP failure.
    pub fn http(status: StatusCode, detail: impl Into<String>) -> Self {
        RequestError {
            status,
            cim_error: None,
            detail: detail.into(),
        }
    }
}

/// How the request was framed, which the response must mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Framing {
    /// For `M-POST`: the `ns` number of the `Man` header; responses carry
    /// `Ext:` and `NN-CIMOperation`.
    pub mpost_ns: Option<String>,
}

impl Framing {
    /// Looks up a CIM header, honouring the `M-POST` prefix.
    pub fn header<'a>(&self, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
        if let Some(ns) = &self.mpost_ns {
            let prefixed = format!("{ns}-{name}");
            if let Some(v) = headers.get(prefixed.as_str()) {
                return v.to_str().ok();
            }
        }
        headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Checks what can be checked before the body is read.
pub fn check_head(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Framing, RequestError> {
    let framing = match method.as_str() {
        "POST" => Framing::default(),
        "M-POST" => Framing {
            mpost_ns: Some(man_namespace(headers).ok_or_else(|| {
                RequestError::http(
                    StatusCode::NOT_EXTENDED,
                    format!("M-POST needs the header Man: {MAN_URI};ns=NN"),
                )
            })?),
        },
        "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "PATCH" | "TRACE" | "CONNECT" => {
            return Err(RequestError::http(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed: CIM-XML requests use POST or M-POST"),
            ))
        }
        other => {
            return Err(RequestError::http(
                StatusCode::NOT_IMPLEMENTED,
                format!("HTTP method {other} is not implemented: use POST or M-POST"),
            ))
        }
    };
    if path != "/cimom" && path != "/" {
        return Err(RequestError::http(
            StatusCode::NOT_FOUND,
            format!("no CIM-XML endpoint at {path}: use /cimom"),
        ));
    }
    match framing.header(headers, "CIMOperation") {
        Some(v) if v.trim().eq_ignore_ascii_case("MethodCall") => {}
        Some(v) => {
            return Err(RequestError::cim(
                StatusCode::BAD_REQUEST,
                "unsupported-operation",
                format!("CIMOperation {v:?} is not supported: only MethodCall"),
            ))
        }
        None if framing.header(headers, "CIMExport").is_some() => return Err(RequestError::cim(
            StatusCode::BAD_REQUEST,
            "unsupported-operation",
            "this is a CIM server, not an indication listener: CIMExport requests are not accepted",
        )),
        None => {
            return Err(RequestError::cim(
                StatusCode::BAD_REQUEST,
                "unsupported-operation",
                "the CIMOperation: MethodCall header is missing",
            ))
        }
    }
    if let Some(v) = framing.header(headers, "CIMProtocolVersion") {
        if !is_protocol_1(v) {
            return Err(RequestError::cim(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported-protocol-version",
                format!("CIMProtocolVersion {v:?} is not supported: only 1.x"),
            ));
        }
    }
    if let Some(ct) = headers.get(http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let media = ct.split(';').next().unwrap_or("").trim();
        if media != "application/xml" && media != "text/xml" {
            return Err(RequestError::http(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {media:?} is not CIM-XML: use application/xml"),
            ));
        }
    }
    Ok(framing)
}

fn is_protocol_1(v: &str) -> bool {
    let v = v.trim();
    v == "1"
        || v.strip_prefix("1.")
            .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// The `ns` of the DMTF extension in a `Man` header
/// (`"http://www.dmtf.org/cim/mapping.http/v1.0" ; ns=73`, RFC 2774).
pub fn man_namespace(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all("Man") {
        let Ok(text) = value.to_str() else { continue };
        for ext in text.split(',') {
            let mut parts = ext.split(';');
            let uri = parts.next().unwrap_or("").trim().trim_matches('"');
            // DSP0200's text writes `mapping.http`, the DMTF servers and
            // clients send `mapping/http`: both name the same extension.
            if uri != MAN_URI && uri != MAN_URI_SLASH {
                continue;
            }
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    let v = v.trim();
                    if k.trim().eq_ignore_ascii_case("ns")
                        && !v.is_empty()
                        && v.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Some(v.to_owned());
                    }
                }
            }
        }
    }
    None
}

/// What the body decoded to.
#[derive(Debug)]
pub enum Decoded {
    /// A request to dispatch (boxed: it is much larger than the other variant).
    Message(Box<Message>),
    /// A valid message whose operation cannot run (bad parameters, unknown
    /// intrinsic): answer `200 OK` with this `<ERROR>` in an `IMETHODRESPONSE`.
    Refused {
        /// `MESSAGE ID` to echo.
        id: String,
        /// Operation name for the `IMETHODRESPONSE`.
        method: String,
        /// The error.
        error: cim::CimError,
    },
}

/// Decodes the body (the head has passed [`check_head`]) and checks it
/// against the headers.
pub fn decode_body(
    body: &[u8],
    headers: &HeaderMap,
    framing: &Framing,
    limits: &cim::xml::Limits,
) -> Result<Decoded, RequestError> {
    let msg = match cim::xml::read_message(body, limits) {
        Ok(m) => m,
        Err(e) => return decode_failure(body, &e),
    };
    if !is_protocol_1(&msg.protocol_version) {
        return Err(RequestError::cim(
            StatusCode::NOT_IMPLEMENTED,
            "unsupported-protocol-version",
            format!(
                "MESSAGE PROTOCOLVERSION {:?} is not supported: only 1.x",
                msg.protocol_version
            ),
        ));
    }
    let header_method = framing.header(headers, "CIMMethod").map(|m| m.trim());
    match &msg.body {
        MessageBody::IMethodCall(call) => {
            let name = call.operation.name();
            check_method_header(header_method, name)?;
            if let Some(obj) = framing.header(headers, "CIMObject") {
                let obj = percent_decode(obj.trim());
                if !same_namespace(&obj, &call.namespace) {
                    return Err(RequestError::cim(
                        StatusCode::BAD_REQUEST,
                        "header-mismatch",
                        format!(
                            "CIMObject {obj:?} does not name the request namespace {:?}",
                            call.namespace
                        ),
                    ));
                }
            } else {
                return Err(RequestError::cim(
                    StatusCode::BAD_REQUEST,
                    "header-mismatch",
                    "the CIMObject header is missing",
                ));
            }
        }
        MessageBody::MethodCall(call) => {
            check_method_header(header_method, call.method.as_str())?;
        }
        _ => {
            return Err(RequestError::cim(
                StatusCode::BAD_REQUEST,
                "unsupported-operation",
                "the message is not a SIMPLEREQ with an IMETHODCALL or METHODCALL",
            ))
        }
    }
    Ok(Decoded::Message(Box::new(msg)))
}

fn check_method_header(header: Option<&str>, name: &str) -> Result<(), RequestError> {
    match header {
        Some(h) if h.eq_ignore_ascii_case(name) => Ok(()),
        Some(h) => Err(RequestError::cim(
            StatusCode::BAD_REQUEST,
            "header-mismatch",
            format!("CIMMethod {h:?} does not match the body's method {name:?}"),
        )),
        None => Err(RequestError::cim(
            StatusCode::BAD_REQUEST,
            "header-mismatch",
            "the CIMMethod header is missing",
        )),
    }
}

/// Maps a codec error onto the DSP0200 answer.
fn decode_failure(body: &[u8], e: &cim::Error) -> Result<Decoded, RequestError> {
    use cim::error::ErrorKind;
    match e.kind() {
        ErrorKind::NotWellFormed => Err(RequestError::cim(
            StatusCode::BAD_REQUEST,
            "request-not-well-formed",
            e.to_string(),
        )),
        ErrorKind::LimitExceeded if is_size_limit(e) => Err(RequestError::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            e.to_string(),
        )),
        ErrorKind::InvalidParameter | ErrorKind::UnknownMethod => match e.to_cim_error() {
            Some(error) => Ok(Decoded::Refused {
                id: message_id(body).unwrap_or_default(),
                method: imethod_name(body).unwrap_or_default(),
                error,
            }),
            None => Err(RequestError::cim(
                StatusCode::BAD_REQUEST,
                "request-not-valid",
                e.to_string(),
            )),
        },
        ErrorKind::UnsupportedVersion => Err(RequestError::cim(
            StatusCode::NOT_IMPLEMENTED,
            match e {
                cim::Error::UnsupportedVersion {
                    attribute: "DTDVERSION",
                    ..
                } => "unsupported-dtd-version",
                _ => "unsupported-cim-version",
            },
            e.to_string(),
        )),
        _ if contains(body, b"<MULTIREQ") => Err(RequestError::cim(
            StatusCode::NOT_IMPLEMENTED,
            "multiple-requests-unsupported",
            "MULTIREQ is not supported: send one SIMPLEREQ per HTTP request",
        )),
        _ => Err(RequestError::cim(
            StatusCode::BAD_REQUEST,
            "request-not-valid",
            e.to_string(),
        )),
    }
}

/// A size (not depth or element count) limit: answered with 413.
fn is_size_limit(e: &cim::Error) -> bool {
    matches!(e, cim::Error::Limit { limit } if limit.contains("byte") || limit.contains("size"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The value of attribute `attr` of the first `<element` start tag, found by a
/// plain scan (used only after the real decoder has accepted the document's
/// structure, to echo the message ID in an `<ERROR>` response).
fn first_attr(body: &[u8], element: &[u8], attr: &str) -> Option<String> {
    let start = body.windows(element.len()).position(|w| w == element)? + element.len();
    let rest = &body[start..];
    let end = rest.iter().position(|&b| b == b'>')?;
    let tag = std::str::from_utf8(&rest[..end]).ok()?;
    let mut s = tag;
    while let Some(eq) = s.find('=') {
        let name = s[..eq].trim();
        let after = s[eq + 1..].trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let close = after[1..].find(quote)? + 1;
        if name == attr {
            return Some(unescape_attr(&after[1..close]));
        }
        s = &after[close + 1..];
    }
    None
}

fn unescape_attr(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn message_id(body: &[u8]) -> Option<String> {
    first_attr(body, b"<MESSAGE ", "ID")
}

fn imethod_name(body: &[u8]) -> Option<String> {
    first_attr(body, b"<IMETHODCALL ", "NAME").or_else(|| first_attr(body, b"<METHODCALL ", "NAME"))
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn same_namespace(a: &str, b: &str) -> bool {
    a.trim_matches('/')
        .eq_ignore_ascii_case(b.trim_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn methods_and_paths() {
        let h = headers(&[("CIMOperation", "MethodCall")]);
        assert_eq!(
            check_head(&Method::GET, "/cimom", &h).unwrap_err().status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        let brew = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(
            check_head(&brew, "/cimom", &h).unwrap_err().status,
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            check_head(&Method::POST, "/x", &h).unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        assert!(check_head(&Method::POST, "/cimom", &h).is_ok());
    }

    #[test]
    fn cim_operation_header() {
        let e = check_head(&Method::POST, "/cimom", &headers(&[])).unwrap_err();
        assert_eq!(
            (e.status, e.cim_error),
            (StatusCode::BAD_REQUEST, Some("unsupported-operation"))
        );
        let e = check_head(
            &Method::POST,
            "/cimom",
            &headers(&[("CIMOperation", "MethodResponse")]),
        )
        .unwrap_err();
        assert_eq!(e.cim_error, Some("unsupported-operation"));
        let e = check_head(
            &Method::POST,
            "/cimom",
            &headers(&[
                ("CIMOperation", "MethodCall"),
                ("CIMProtocolVersion", "2.0"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.cim_error),
            (
                StatusCode::NOT_IMPLEMENTED,
                Some("unsupported-protocol-version")
            )
        );
        let e = check_head(
            &Method::POST,
            "/cimom",
            &headers(&[
                ("CIMOperation", "MethodCall"),
                ("Content-Type", "application/json"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(check_head(
            &Method::POST,
            "/cimom",
            &headers(&[
                ("CIMOperation", "methodcall"),
                ("CIMProtocolVersion", "1.0"),
                ("Content-Type", "text/xml; charset=utf-8")
            ]),
        )
        .is_ok());
    }

    #[test]
    fn m_post_needs_man_and_uses_the_prefix() {
        let mpost = Method::from_bytes(b"M-POST").unwrap();
        let e = check_head(
            &mpost,
            "/cimom",
            &headers(&[("CIMOperation", "MethodCall")]),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_EXTENDED);
        let h = headers(&[
            ("Man", "http://www.dmtf.org/cim/mapping.http/v1.0 ; ns=73"),
            ("73-CIMOperation", "MethodCall"),
            ("73-CIMMethod", "GetClass"),
        ]);
        let f = check_head(&mpost, "/cimom", &h).unwrap();
        assert_eq!(f.mpost_ns.as_deref(), Some("73"));
        assert_eq!(f.header(&h, "CIMMethod"), Some("GetClass"));
    }

    #[test]
    fn codec_limits_map_to_statuses() {
        let h = headers(&[
            ("CIMOperation", "MethodCall"),
            ("CIMMethod", "EnumerateClassNames"),
        ]);
        let f = Framing::default();
        let small = cim::xml::Limits {
            max_depth: 8,
            max_elements: 1000,
            max_bytes: 200,
        };
        let deep = format!("<CIM>{}{}</CIM>", "<A>".repeat(20), "</A>".repeat(20));
        let e = decode_body(deep.as_bytes(), &h, &f, &small).unwrap_err();
        assert_eq!(
            (e.status, e.cim_error),
            (StatusCode::BAD_REQUEST, Some("request-not-valid"))
        );
        let big = format!("<CIM>{}</CIM>", " ".repeat(500));
        let e = decode_body(big.as_bytes(), &h, &f, &small).unwrap_err();
        assert_eq!(
            (e.status, e.cim_error),
            (StatusCode::PAYLOAD_TOO_LARGE, None)
        );
        let e = decode_body(b"\xff\xfe<CIM/>", &h, &f, &small).unwrap_err();
        assert_eq!(e.cim_error, Some("request-not-well-formed"));
    }

    #[test]
    fn attribute_scan_and_percent_decoding() {
        let body = br#"<CIM><MESSAGE PROTOCOLVERSION="1.0" ID='4&amp;2'><SIMPLEREQ><IMETHODCALL NAME="Bogus">"#;
        assert_eq!(message_id(body).as_deref(), Some("4&2"));
        assert_eq!(imethod_name(body).as_deref(), Some("Bogus"));
        assert_eq!(percent_decode("root%2Fcimv2"), "root/cimv2");
        assert_eq!(percent_decode("bad%zz%2"), "bad%zz%2");
        assert!(same_namespace("/root/CIMV2/", "root/cimv2"));
        assert!(
            is_protocol_1("1.0")
                && is_protocol_1("1.4")
                && !is_protocol_1("1.")
                && !is_protocol_1("2.0")
        );
    }
}
