//! Indications: matching published indications against the subscriptions in
//! the interop namespace, and delivering them to CIM-XML listeners.
//!
//! ```text
//! provider ─publish_indication─► sink (try_send; full: drop + warn)
//!   ─► bounded queue ─► router task: subscriptions × (namespace, WQL filter)
//!   ─► one bounded queue + worker per destination URL ─► ExportIndication
//!      (attempts with exponential backoff, then drop + warn)
//! ```
//!
//! * Never blocks a provider: the sink only `try_send`s onto a queue of
//!   [`IndicationConfig::queue_capacity`] entries.
//! * Subscriptions are repository instances, so they survive restarts; the
//!   router keeps them (with their parsed filters) in memory and re-reads
//!   [`Cimom::subscriptions`] whenever [`Cimom::subscriptions_changed`] ticks
//!   (interop bumps it on every create/modify/delete of a filter, handler or
//!   subscription), so matching costs no repository read per indication.
//! * A subscription matches when its filter's source namespaces are empty or
//!   name the indication's namespace, its `SubscriptionState` is not
//!   Disabled (4), and its WQL (`QueryLanguage` `WQL` or `DMTF:CQL`) query
//!   matches the indication (class in `FROM`, including subclasses, and the
//!   `WHERE` clause, e.g. `SourceInstance ISA DS_IISet`), evaluated by
//!   [`crate::wql`].
//! * An indication matched by several subscriptions with the same destination
//!   is delivered there once. Order is kept per destination.

mod deliver;

pub use deliver::Destination;

use crate::config::IndicationConfig;
use crate::core::Cimom;
use crate::interop::Subscription;
use bytes::Bytes;
use cim::Instance;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// First retry delay; doubled for each further attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Starts delivery: installs the sink into `cimom` and spawns the router,
/// which runs until `stop` turns `true`.
pub fn start(
    cimom: &Cimom,
    config: &IndicationConfig,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let (tx, rx) = mpsc::channel::<(String, Instance)>(config.queue_capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    cimom.set_indication_sink(Arc::new(move |namespace: &str, indication: Instance| {
        match tx.try_send((namespace.to_owned(), indication)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full((_, ind))) => {
                let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // Warn on the 1st, 2nd, 4th, 8th, ... drop, not on every one.
                if n.is_power_of_two() {
                    tracing::warn!(class = %ind.class_name, dropped_total = n, "indication queue full: indication dropped");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!("indication delivery stopped: indication dropped");
            }
        }
    }));
    let router = Router {
        cimom: cimom.clone(),
        config: config.clone(),
        changed: cimom.subscriptions_changed(),
        subs: Vec::new(),
        workers: HashMap::new(),
    };
    tokio::spawn(
        async move {
            let mut router = router;
            router.reload();
            let mut rx = rx;
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some((ns, ind)) => router.route(&ns, ind),
                        None => break,
                    },
                    _ = stop.changed() => break,
                }
            }
        }
        .instrument(tracing::info_span!("indications")),
    )
}

/// A subscription prepared for matching.
struct Prepared {
    sub: Subscription,
    filter: Result<crate::wql::Query, String>,
}

struct Router {
    cimom: Cimom,
    config: IndicationConfig,
    changed: watch::Receiver<u64>,
    subs: Vec<Prepared>,
    workers: HashMap<String, mpsc::Sender<Bytes>>,
}

impl Router {
    fn reload(&mut self) {
        self.changed.borrow_and_update();
        self.subs = self
            .cimom
            .subscriptions()
            .into_iter()
            .map(|sub| {
                let filter = parse_filter(&sub);
                if let Err(e) = &filter {
                    tracing::warn!(subscription = %sub.path, error = %e, "subscription filter unusable; it matches nothing");
                }
                Prepared { sub, filter }
            })
            .collect();
        // Workers of destinations nobody subscribes to any more finish their
        // queue and exit when their sender is dropped.
        let live: std::collections::HashSet<&str> = self
            .subs
            .iter()
            .map(|p| p.sub.destination.as_str())
            .collect();
        self.workers.retain(|url, _| live.contains(url.as_str()));
        tracing::debug!(subscriptions = self.subs.len(), "subscriptions loaded");
    }

    fn route(&mut self, namespace: &str, indication: Instance) {
        if self.changed.has_changed().unwrap_or(false) {
            self.reload();
        }
        let mut destinations: Vec<String> = Vec::new();
        for p in &self.subs {
            if !p.sub.destination.is_empty()
                && !destinations.contains(&p.sub.destination)
                && subscription_matches(&self.cimom, p, namespace, &indication)
            {
                destinations.push(p.sub.destination.clone());
            }
        }
        if destinations.is_empty() {
            tracing::trace!(class = %indication.class_name, "indication matches no subscription");
            return;
        }
        let body = deliver::export_body(&indication);
        for url in destinations {
            let Some(tx) = self.worker(&url) else {
                continue;
            };
            if tx.try_send(body.clone()).is_err() {
                tracing::warn!(destination = %url, class = %indication.class_name, "listener queue full: indication dropped");
            }
        }
    }

    fn worker(&mut self, url: &str) -> Option<&mpsc::Sender<Bytes>> {
        if !self.workers.contains_key(url) {
            let dest = match Destination::parse(url) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "unusable listener destination");
                    return None;
                }
            };
            let conn =
                match deliver::Connection::new(dest, self.config.verify_tls, self.config.timeout) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(destination = %url, error = %e, "cannot set up delivery");
                        return None;
                    }
                };
            let (tx, rx) = mpsc::channel(self.config.queue_capacity.max(1));
            tokio::spawn(
                worker(conn, rx, self.config.attempts.max(1))
                    .instrument(tracing::info_span!("listener", destination = %url)),
            );
            self.workers.insert(url.to_owned(), tx);
        }
        self.workers.get(url)
    }
}

fn parse_filter(sub: &Subscription) -> Result<crate::wql::Query, String> {
    let lang = sub.query_language.trim();
    if !(lang.eq_ignore_ascii_case("WQL")
        || lang.eq_ignore_ascii_case("DMTF:CQL")
        || lang.eq_ignore_ascii_case("CQL"))
    {
        return Err(format!(
            "query language {lang:?} is not supported (use WQL)"
        ));
    }
    crate::wql::Query::parse(&sub.query).map_err(|e| e.to_string())
}

fn subscription_matches(
    cimom: &Cimom,
    p: &Prepared,
    namespace: &str,
    indication: &Instance,
) -> bool {
    // CIM_IndicationSubscription.SubscriptionState 4 = Disabled.
    if p.sub
        .subscription
        .get("SubscriptionState")
        .and_then(|v| v.as_u64())
        == Some(4)
    {
        return false;
    }
    let ns = namespace.trim_matches('/');
    if !p.sub.source_namespaces.is_empty()
        && !p
            .sub
            .source_namespaces
            .iter()
            .any(|s| s.trim_matches('/').eq_ignore_ascii_case(ns))
    {
        return false;
    }
    match &p.filter {
        Ok(q) => filter_matches(cimom, q, namespace, indication),
        Err(_) => false,
    }
}

/// The `FROM` class (or a subclass) and the `WHERE` clause. Class hierarchy
/// questions (`FROM`, `ISA`) are answered from the source namespace, then from
/// interop (where the indication classes may be declared instead).
fn filter_matches(
    cimom: &Cimom,
    query: &crate::wql::Query,
    namespace: &str,
    indication: &Instance,
) -> bool {
    let repo = cimom.repository();
    let source = repo.resolve_namespace(namespace).ok();
    let interop = repo.resolve_namespace("interop").ok();
    let isa = |sub: &str, sup: &str| {
        sub.eq_ignore_ascii_case(sup)
            || source.as_deref().is_some_and(|ns| repo.is_a(ns, sub, sup))
            || interop.as_deref().is_some_and(|ns| repo.is_a(ns, sub, sup))
    };
    isa(indication.class_name.as_str(), query.from_class()) && query.matches(indication, &isa)
}

/// Delivers one destination's queue in order.
async fn worker(mut conn: deliver::Connection, mut rx: mpsc::Receiver<Bytes>, attempts: u32) {
    while let Some(body) = rx.recv().await {
        let mut delay = FIRST_BACKOFF;
        for attempt in 1..=attempts {
            match conn.send(body.clone()).await {
                Ok(()) => {
                    tracing::debug!(attempt, "indication delivered");
                    crate::metrics::global().indication(true);
                    break;
                }
                Err(deliver::Failure::Refused(e)) => {
                    tracing::warn!(error = %e, "listener refused the indication");
                    crate::metrics::global().indication(false);
                    break;
                }
                Err(deliver::Failure::Transient(e)) if attempt < attempts => {
                    tracing::debug!(attempt, error = %e, "delivery failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(deliver::Failure::Transient(e)) => {
                    tracing::warn!(attempts, error = %e, "indication dropped: the listener could not be reached");
                    crate::metrics::global().indication(false);
                }
            }
        }
    }
}
