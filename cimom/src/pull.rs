//! Pull operations and their enumeration contexts.
use crate::dispatch::{Cimom, RequestCtx};
use cim::ops::{Operation, Response};
use cim::CimError;

/// The open enumeration contexts.
pub struct PullContexts {
    _max: usize,
}
impl PullContexts {
    /// A table holding at most `max` contexts.
    pub fn new(max: usize) -> Self {
        PullContexts { _max: max }
    }
}
pub(crate) async fn handle(_c: &Cimom, _ctx: &RequestCtx, _ns: &str, op: Operation) -> Result<Response, CimError> {
    Err(CimError::not_supported(format!("{} is not implemented yet", op.name())))
}
