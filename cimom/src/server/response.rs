//! The response encoding stage: CIM-XML answers and request-level failures
//! as HTTP responses.
//!
//! Every response body is rendered completely into one buffer before it is
//! handed to hyper, so a response leaves in one write (with the head, via a
//! vectored write) rather than dribbling out element by element; together
//! with `TCP_NODELAY` this keeps small round trips at one segment each way.
//!
//! Headers (DSP0200 §7): `Content-Type: application/xml; charset="utf-8"`,
//! `CIMOperation: MethodResponse`. For `M-POST` requests the response carries
//! `Ext:` and the prefixed `NN-CIMOperation` (RFC 2774). Request-level
//! failures carry `CIMError` when DSP0200 names one, and the detail as a
//! `PGErrorDetail` header (percent-encoded, as OpenPegasus does; pywbem shows it)
//! and as a `text/plain` body.

use super::request::{Framing, RequestError};
use super::trim;
use bytes::Bytes;
use cim::ops::{
    IMethodResponse, Message, MessageBody, MethodResponse, MethodResult, Response as CimResponse,
};
use cim::{CimError, CimName};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};

/// The body of every response: one or a few buffers sent in order, so that
/// a cached answer ([`CimResponse::Rendered`]) goes out between its own head
/// and tail without being copied into each response.
#[derive(Debug, Default)]
pub struct Body {
    parts: std::collections::VecDeque<Bytes>,
}

impl Body {
    /// A body of these buffers, sent in order.
    pub(crate) fn of(parts: impl IntoIterator<Item = Bytes>) -> Body {
        Body {
            parts: parts.into_iter().filter(|b| !b.is_empty()).collect(),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.parts
                .pop_front()
                .map(|b| Ok(http_body::Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.parts.iter().map(|b| b.len() as u64).sum())
    }
}

/// The bytes of a response body: a large one is owned by a
/// [`trim::Large`] guard, so its memory goes back to the system once sent.
fn body_bytes<T: trim::Owner>(b: T) -> Bytes {
    if b.as_ref().len() >= trim::TRIM_AFTER_BYTES {
        Bytes::from_owner(trim::Large::new(b))
    } else {
        b.into_bytes()
    }
}

/// What follows the head of an answer rendered around a cached
/// `IRETURNVALUE` content: that content, then the document's tail.
pub struct SharedTail {
    middle: Bytes,
    tail: Vec<u8>,
}

/// `Content-Type` of CIM-XML responses.
pub const CIMXML_CONTENT_TYPE: &str = "application/xml; charset=\"utf-8\"";

/// Renders an `IMETHODRESPONSE` document into `out`; for a cached answer
/// only its head, returning the rest (see [`cim_response_with`]).
pub fn encode_imethod(
    id: &str,
    name: &str,
    result: Result<CimResponse, CimError>,
    out: &mut Vec<u8>,
) -> Option<SharedTail> {
    if let Ok(CimResponse::Rendered(b)) = result {
        cim::xml::write_imethod_response_head(id, name, out);
        let mut tail = Vec::with_capacity(64);
        cim::xml::write_imethod_response_tail(&mut tail);
        return Some(SharedTail {
            middle: body_bytes(trim::SharedAnswer(b)),
            tail,
        });
    }
    let msg = Message {
        id: id.to_owned(),
        protocol_version: "1.0".into(),
        body: MessageBody::IMethodResponse(IMethodResponse {
            name: name.to_owned(),
            result,
        }),
    };
    cim::xml::write_message(&msg, out);
    None
}

/// Renders a `METHODRESPONSE` document.
pub fn encode_method(
    id: &str,
    name: CimName,
    result: Result<MethodResult, CimError>,
    out: &mut Vec<u8>,
) {
    let msg = Message {
        id: id.to_owned(),
        protocol_version: "1.0".into(),
        body: MessageBody::MethodResponse(MethodResponse { name, result }),
    };
    cim::xml::write_message(&msg, out);
}

/// A `200 OK` CIM-XML response around a rendered document.
pub fn cim_response(framing: &Framing, body: Vec<u8>) -> Response<Body> {
    cim_response_with(framing, body, None)
}

/// [`cim_response`] of a document whose head is `body` and whose rest, when
/// given, is a cached answer and the tail ([`encode_imethod`]).
pub fn cim_response_with(
    framing: &Framing,
    body: Vec<u8>,
    rest: Option<SharedTail>,
) -> Response<Body> {
    let parts = match rest {
        None => Body::of([body_bytes(body)]),
        Some(r) => Body::of([body_bytes(body), r.middle, Bytes::from(r.tail)]),
    };
    let mut resp = Response::new(parts);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(CIMXML_CONTENT_TYPE));
    match &framing.mpost_ns {
        None => {
            h.insert("CIMOperation", HeaderValue::from_static("MethodResponse"));
        }
        Some(ns) => {
            h.insert("Ext", HeaderValue::from_static(""));
            if let Ok(name) = HeaderName::from_bytes(format!("{ns}-CIMOperation").as_bytes()) {
                h.insert(name, HeaderValue::from_static("MethodResponse"));
            }
        }
    }
    resp
}

/// An HTTP-level failure response.
pub fn error_response(e: &RequestError) -> Response<Body> {
    let mut resp = Response::new(Body::of([Bytes::from(format!("{}\n", e.detail))]));
    *resp.status_mut() = e.status;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(c) = e.cim_error {
        h.insert("CIMError", HeaderValue::from_static(c));
    }
    if let Ok(v) = HeaderValue::from_str(&percent_encode(&e.detail)) {
        h.insert("PGErrorDetail", v);
    }
    if e.status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(
            http::header::ALLOW,
            HeaderValue::from_static("POST, M-POST"),
        );
    }
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// `401 Unauthorized` with the Basic challenge.
pub fn unauthorized() -> Response<Body> {
    let mut resp = error_response(&RequestError::http(
        StatusCode::UNAUTHORIZED,
        "authentication required: send HTTP Basic credentials of a user in the --users file",
    ));
    resp.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"cimom\""),
    );
    resp
}

/// Percent-encodes everything but unreserved ASCII and spaces, so that any
/// detail fits a header value.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b" -_.~:/()',=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_for_post_and_m_post() {
        let r = cim_response(&Framing::default(), b"<CIM/>".to_vec());
        assert_eq!(r.headers()["CIMOperation"], "MethodResponse");
        assert_eq!(r.headers()["Content-Type"], CIMXML_CONTENT_TYPE);
        let r = cim_response(
            &Framing {
                mpost_ns: Some("42".into()),
            },
            Vec::new(),
        );
        assert_eq!(r.headers()["42-CIMOperation"], "MethodResponse");
        assert!(r.headers().contains_key("Ext"));
    }

    #[test]
    fn error_headers() {
        let r = error_response(&RequestError::cim(
            StatusCode::BAD_REQUEST,
            "request-not-valid",
            "bad <X>\n",
        ));
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["CIMError"], "request-not-valid");
        assert_eq!(r.headers()["PGErrorDetail"], "bad %3CX%3E%0A");
        let r = unauthorized();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["WWW-Authenticate"], "Basic realm=\"cimom\"");
    }
}
