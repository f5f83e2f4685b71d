//! Answering operations: [`Cimom::handle_imethod`] (one arm per DSP0200
//! intrinsic operation, each served by the module of its family) and
//! [`Cimom::handle_method`]. The object manager's state is in
//! [`crate::core`]; this module and its children only read and write it.
//!
//! # Routing
//!
//! A class served by an internal provider (the object manager's own, bound
//! to classes of one namespace, such as [`crate::interop`]'s) goes to it;
//! else a class whose resolved qualifiers carry `Provider("X")` (inherited by
//! subclasses unless overridden) is served by provider `X`; any other class by
//! the repository (static instances). Every provider call runs in a spawned
//! task with a time limit ([`crate::CimomOptions::provider_timeout`],
//! [`crate::CimomOptions::method_timeout`] for extrinsic methods); a panic or
//! a timeout fails that request only, with `CIM_ERR_FAILED` naming the
//! provider. A method call whose provider declared it waiting
//! ([`crate::provider::Waiting`]) has no time limit and is cancelled when its
//! request is dropped (client gone).
//!
//! Open/Pull operations ([`pull`]) run the classic handlers and page their
//! answers.

pub(crate) mod assoc;
mod class_ops;
pub(crate) mod filter;
pub(crate) mod instance_ops;
mod pull;
pub(crate) mod query_ops;
pub(crate) mod rendered;
pub(crate) mod route;

use crate::core::{Cimom, RequestCtx};
use cim::ops::{IMethodCall, MethodCall, MethodResult, Operation, Response};
use cim::CimError;
use tracing::Instrument;

/// The tracing span of one intrinsic operation.
fn request_span(ctx: &RequestCtx, call: &IMethodCall) -> tracing::Span {
    tracing::debug_span!(
        "cim_request",
        id = %ctx.message_id,
        op = call.operation.name(),
        ns = %call.namespace,
    )
}

impl Cimom {
    /// Serves an intrinsic operation.
    pub async fn handle_imethod(
        &self,
        ctx: &RequestCtx,
        call: IMethodCall,
    ) -> Result<Response, CimError> {
        let span = request_span(ctx, &call);
        self.dispatch(ctx, call).instrument(span).await
    }

    /// [`Cimom::handle_imethod`] for a server about to write the answer as
    /// CIM-XML: class reads may come back as [`Response::Rendered`], from
    /// the rendered-answer cache.
    pub async fn handle_imethod_rendered(
        &self,
        ctx: &RequestCtx,
        call: IMethodCall,
    ) -> Result<Response, CimError> {
        let span = request_span(ctx, &call);
        async {
            let ns = self.inner().repo.resolve_namespace(&call.namespace)?;
            if let Some(r) = rendered::answer(self, ctx, &ns, &call.operation).await {
                return r;
            }
            self.dispatch(ctx, call).await
        }
        .instrument(span)
        .await
    }

    /// Serves an extrinsic method call: checks the class and method exist and
    /// routes to the class's method provider.
    pub async fn handle_method(
        &self,
        ctx: &RequestCtx,
        call: MethodCall,
    ) -> Result<MethodResult, CimError> {
        let span = tracing::debug_span!(
            "cim_method",
            id = %ctx.message_id,
            method = %call.method,
            class = %call.target.class_name,
            ns = %call.namespace,
        );
        route::invoke_method(self, ctx, call).instrument(span).await
    }

    /// The single dispatch function: one arm per DSP0200 operation.
    async fn dispatch(&self, ctx: &RequestCtx, call: IMethodCall) -> Result<Response, CimError> {
        self.inner().pulls.maybe_sweep();
        let ns = self.inner().repo.resolve_namespace(&call.namespace)?;
        let ns = ns.as_str();
        match call.operation {
            op @ (Operation::GetClass { .. }
            | Operation::EnumerateClasses { .. }
            | Operation::EnumerateClassNames { .. }
            | Operation::CreateClass { .. }
            | Operation::ModifyClass { .. }
            | Operation::DeleteClass { .. }
            | Operation::GetQualifier { .. }
            | Operation::SetQualifier { .. }
            | Operation::DeleteQualifier { .. }
            | Operation::EnumerateQualifiers) => class_ops::handle(self, ns, op),
            op @ (Operation::GetInstance { .. }
            | Operation::EnumerateInstances { .. }
            | Operation::EnumerateInstanceNames { .. }
            | Operation::CreateInstance { .. }
            | Operation::ModifyInstance { .. }
            | Operation::DeleteInstance { .. }
            | Operation::GetProperty { .. }
            | Operation::SetProperty { .. }) => instance_ops::handle(self, ctx, ns, op).await,
            op @ (Operation::Associators { .. }
            | Operation::AssociatorNames { .. }
            | Operation::References { .. }
            | Operation::ReferenceNames { .. }) => {
                assoc::handle(self, ctx, ns, op, assoc::Level::ClassWhenKeyless).await
            }
            op @ Operation::ExecQuery { .. } => query_ops::exec_query(self, ctx, ns, op).await,
            op => pull::handle(self, ctx, ns, op).await,
        }
    }
}
