//! Routing to providers: which provider serves a class, and running a
//! provider call in its own task with a time limit.
use super::{Cimom, RequestCtx};
use cim::ops::{MethodCall, MethodResult};
use cim::CimError;

pub(super) async fn invoke_method(_c: &Cimom, _ctx: &RequestCtx, call: MethodCall) -> Result<MethodResult, CimError> {
    Err(CimError::not_supported(format!("method {} is not implemented yet", call.method)))
}
