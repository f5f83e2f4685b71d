//! The table of open enumeration contexts (DSP0200 §5.3.2.x, "Open/Pull"):
//! the items an `Open*` operation computed beyond its first page, kept by
//! random UUID for the `Pull*` operations to drain, `EnumerationCount` to
//! count and `CloseEnumeration` to free. State of the object manager; the
//! operations themselves are answered in `dispatch/pull.rs`.
//!
//! * A context belongs to the namespace it was opened in; asked from another
//!   one it does not exist.
//! * It expires after its `OperationTimeout` of idle time; expired contexts
//!   are swept on every pull operation and at most once a second on any
//!   request ([`PullContexts::maybe_sweep`]); a request naming one gets
//!   `CIM_ERR_INVALID_ENUMERATION_CONTEXT`.
//! * At most `max` contexts are open at once (`CIM_ERR_SERVER_LIMITS_EXCEEDED`).
//! * A `Pull*` of the wrong kind for the context (e.g. `PullInstancePaths` on
//!   an `OpenEnumerateInstances` context) is `CIM_ERR_INVALID_PARAMETER`
//!   and leaves the context open.

use cim::ops::{PullItems, PullResult};
use cim::{CimError, Class, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Context {
    ns: String,
    items: PullItems,
    timeout: Duration,
    expires: Instant,
}

fn len(items: &PullItems) -> usize {
    match items {
        PullItems::InstancesWithPath(v) | PullItems::Instances(v) => v.len(),
        PullItems::InstancePaths(v) => v.len(),
        PullItems::Rendered(r) => r.len(),
    }
}

/// Splits off the first `n` items.
fn take(items: &mut PullItems, n: usize) -> PullItems {
    fn front<T>(v: &mut Vec<T>, n: usize) -> Vec<T> {
        let n = n.min(v.len());
        let rest = v.split_off(n);
        std::mem::replace(v, rest)
    }
    match items {
        PullItems::InstancesWithPath(v) => PullItems::InstancesWithPath(front(v, n)),
        PullItems::Instances(v) => PullItems::Instances(front(v, n)),
        PullItems::InstancePaths(v) => PullItems::InstancePaths(front(v, n)),
        PullItems::Rendered(r) => PullItems::Rendered(r.split_front(n)),
    }
}

/// What a page of `items` answers: rendered items are instances with path.
fn kind(items: &PullItems) -> std::mem::Discriminant<PullItems> {
    match items {
        PullItems::Rendered(_) => std::mem::discriminant(&PullItems::InstancesWithPath(Vec::new())),
        other => std::mem::discriminant(other),
    }
}

fn same_kind(a: &PullItems, b: &PullItems) -> bool {
    kind(a) == kind(b)
}

fn invalid_context(id: &str) -> CimError {
    CimError::new(
        StatusCode::InvalidEnumerationContext,
        format!("enumeration context {id:?} does not exist, was closed or has expired"),
    )
}

/// The open enumeration contexts.
pub struct PullContexts {
    max: usize,
    map: Mutex<HashMap<String, Context>>,
    /// Milliseconds since `epoch` of the last sweep (see [`PullContexts::maybe_sweep`]).
    last_sweep: std::sync::atomic::AtomicU64,
    epoch: Instant,
}

impl PullContexts {
    /// A table holding at most `max` contexts.
    pub fn new(max: usize) -> Self {
        PullContexts {
            max,
            map: Mutex::new(HashMap::new()),
            last_sweep: std::sync::atomic::AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// The table, swept of expired contexts.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Context>> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        Self::sweep(&mut map);
        map
    }

    fn sweep(map: &mut HashMap<String, Context>) {
        let now = Instant::now();
        map.retain(|id, c| {
            let keep = c.expires > now;
            if !keep {
                tracing::debug!(context = %id, "enumeration context expired");
            }
            keep
        });
    }

    /// How many contexts are open (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Removes expired contexts now.
    pub fn sweep_now(&self) {
        drop(self.lock());
    }

    /// Sweeps at most once a second; called on every request so that
    /// abandoned contexts are freed even when no pull operation follows.
    pub fn maybe_sweep(&self) {
        use std::sync::atomic::Ordering;
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_now();
        }
    }

    /// The first page of an `Open*` result: the first `max` items, the rest
    /// kept in a new context (none when nothing is left).
    pub(crate) fn open(
        &self,
        ns: &str,
        mut items: PullItems,
        max: u32,
        timeout: Duration,
        query_result_class: Option<Class>,
    ) -> Result<PullResult, CimError> {
        let first = take(&mut items, max as usize);
        if len(&items) == 0 {
            return Ok(PullResult {
                items: first,
                end_of_sequence: true,
                enumeration_context: None,
                query_result_class,
            });
        }
        let mut map = self.lock();
        if map.len() >= self.max {
            return Err(CimError::new(
                StatusCode::ServerLimitsExceeded,
                format!(
                    "too many open enumeration contexts (limit {}); close some or let them expire",
                    self.max
                ),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        map.insert(
            id.clone(),
            Context {
                ns: ns.to_owned(),
                items,
                timeout,
                expires: Instant::now() + timeout,
            },
        );
        tracing::debug!(context = %id, "enumeration context opened");
        Ok(PullResult {
            items: first,
            end_of_sequence: false,
            enumeration_context: Some(id),
            query_result_class,
        })
    }

    /// The next page of context `id`, which must hold items of `kind`'s kind;
    /// the context is freed with its last page.
    pub(crate) fn pull(
        &self,
        ns: &str,
        id: &str,
        max: u32,
        kind: PullItems,
    ) -> Result<PullResult, CimError> {
        let mut map = self.lock();
        let c = match map.get_mut(id) {
            Some(c) if c.ns == ns => c,
            _ => return Err(invalid_context(id)),
        };
        if !same_kind(&c.items, &kind) {
            return Err(CimError::invalid_parameter(format!(
                "enumeration context {id:?} was opened by a different kind of Open operation"
            )));
        }
        let items = take(&mut c.items, max as usize);
        if len(&c.items) == 0 {
            map.remove(id);
            return Ok(PullResult {
                items,
                end_of_sequence: true,
                enumeration_context: None,
                query_result_class: None,
            });
        }
        c.expires = Instant::now() + c.timeout;
        Ok(PullResult {
            items,
            end_of_sequence: false,
            enumeration_context: Some(id.to_owned()),
            query_result_class: None,
        })
    }

    /// `CloseEnumeration`.
    pub(crate) fn close(&self, ns: &str, id: &str) -> Result<(), CimError> {
        let mut map = self.lock();
        match map.get(id) {
            Some(c) if c.ns == ns => {
                map.remove(id);
                Ok(())
            }
            _ => Err(invalid_context(id)),
        }
    }

    /// `EnumerationCount`: the exact number of items left (renews the context).
    pub(crate) fn count(&self, ns: &str, id: &str) -> Result<u64, CimError> {
        let mut map = self.lock();
        match map.get_mut(id) {
            Some(c) if c.ns == ns => {
                c.expires = Instant::now() + c.timeout;
                Ok(len(&c.items) as u64)
            }
            _ => Err(invalid_context(id)),
        }
    }
}
