//! ExecQuery.
use super::{Cimom, RequestCtx};
use cim::ops::{Operation, Response};
use cim::CimError;
pub(super) async fn exec_query(_c: &Cimom, _ctx: &RequestCtx, _ns: &str, op: Operation) -> Result<Response, CimError> {
    Err(CimError::not_supported(format!("{} is not implemented yet", op.name())))
}
