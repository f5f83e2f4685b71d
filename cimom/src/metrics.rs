//! Prometheus metrics (crate `prometheus-client`) and the optional text
//! endpoint `--metrics-listen ADDR` (`GET /metrics`, OpenMetrics text format,
//! which Prometheus and `prometheus_client.parser` read).
//!
//! One process-wide registry ([`global`]). Recording is off until
//! [`Metrics::enable`] (called when the endpoint starts), so a server without
//! the endpoint pays one relaxed atomic load per event. Other crates add their
//! own metrics with [`Metrics::register`] and refresh gauges computed from
//! state (per-set figures) with [`Metrics::on_scrape`].
//!
//! Metrics of the object manager:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `cimomd_cim_requests_total` | counter | `operation`, `status` (`OK`, `CIM_ERR_…`, `HTTP_nnn`) |
//! | `cimomd_cim_request_duration_seconds` | histogram | `operation` |
//! | `cimomd_http_connections` | gauge | — (open now) |
//! | `cimomd_indication_deliveries_total` | counter | — |
//! | `cimomd_indication_delivery_failures_total` | counter | — (dropped after the last attempt, or refused) |
//!
//! `operation` is the intrinsic operation or extrinsic method name; after
//! [`MAX_OPERATIONS`] distinct names further ones count as `other`, so a
//! client cannot grow the series without bound.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Duration;

/// Distinct `operation` label values at most.
pub const MAX_OPERATIONS: usize = 128;

/// Labels of a CIM request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: String,
}

/// Label of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

type Refresh = Box<dyn Fn() + Send + Sync>;

/// The process's metrics.
pub struct Metrics {
    enabled: AtomicBool,
    registry: Mutex<Registry>,
    refresh: Mutex<Vec<Refresh>>,
    operations: RwLock<HashSet<String>>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabel, Histogram>,
    connections: Gauge,
    deliveries: Counter,
    delivery_failures: Counter,
}

/// Latency buckets from 50 µs to about 13 s (doubling).
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 19))
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "cimomd_cim_requests",
            "CIM-XML requests answered, by operation and status",
            requests.clone(),
        );
        let latency = Family::<OperationLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register_with_unit(
            "cimomd_cim_request_duration",
            "Time from request headers to the encoded answer",
            Unit::Seconds,
            latency.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "cimomd_http_connections",
            "Open HTTP(S) connections",
            connections.clone(),
        );
        let deliveries = Counter::default();
        registry.register(
            "cimomd_indication_deliveries",
            "Indications delivered to a listener",
            deliveries.clone(),
        );
        let delivery_failures = Counter::default();
        registry.register(
            "cimomd_indication_delivery_failures",
            "Indications not delivered (refused, or dropped after the last attempt)",
            delivery_failures.clone(),
        );
        Metrics {
            enabled: AtomicBool::new(false),
            registry: Mutex::new(registry),
            refresh: Mutex::new(Vec::new()),
            operations: RwLock::new(HashSet::new()),
            requests,
            latency,
            connections,
            deliveries,
            delivery_failures,
        }
    }

    /// Starts recording.
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Whether events are being recorded.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Adds metrics of another component.
    pub fn register(&self, f: impl FnOnce(&mut Registry)) {
        f(&mut self.registry.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Runs `f` before every scrape (to set gauges computed from state).
    pub fn on_scrape(&self, f: impl Fn() + Send + Sync + 'static) {
        self.refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    fn operation_label(&self, op: &str) -> String {
        let known = self.operations.read().unwrap_or_else(|e| e.into_inner());
        if known.contains(op) {
            return op.to_owned();
        }
        drop(known);
        let mut known = self.operations.write().unwrap_or_else(|e| e.into_inner());
        if known.len() >= MAX_OPERATIONS {
            return "other".to_owned();
        }
        known.insert(op.to_owned());
        op.to_owned()
    }

    /// One answered request (`op` empty when it never got that far).
    pub fn request(&self, op: &str, status: &str, took: Duration) {
        if !self.enabled() {
            return;
        }
        let operation = if op.is_empty() {
            "none".to_owned()
        } else {
            self.operation_label(op)
        };
        self.latency
            .get_or_create(&OperationLabel {
                operation: operation.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                operation,
                status: status.to_owned(),
            })
            .inc();
    }

    /// A connection opened; the guard counts it closed when dropped.
    pub fn connection(&'static self) -> ConnectionGuard {
        let counted = self.enabled();
        if counted {
            self.connections.inc();
        }
        ConnectionGuard(counted.then_some(self))
    }

    /// One indication delivery outcome.
    pub fn indication(&self, delivered: bool) {
        if !self.enabled() {
            return;
        }
        if delivered {
            self.deliveries.inc();
        } else {
            self.delivery_failures.inc();
        }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        for f in self
            .refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            f();
        }
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Counts one open connection (see [`Metrics::connection`]).
pub struct ConnectionGuard(Option<&'static Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if let Some(m) = self.0 {
            m.connections.dec();
        }
    }
}

/// The bound metrics endpoint.
pub struct Endpoint {
    listener: tokio::net::TcpListener,
}

impl Endpoint {
    /// Binds `addr` and enables recording.
    pub async fn bind(addr: SocketAddr) -> Result<Endpoint, crate::Error> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| crate::Error::Listen { addr, source })?;
        global().enable();
        Ok(Endpoint { listener })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `GET /metrics` until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => return,
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req| async move {
                    Ok::<_, std::convert::Infallible>(answer(&req))
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "metrics connection ended with an error");
                }
            });
        }
    }
}

fn answer<B>(req: &http::Request<B>) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let (status, ctype, body) = if req.uri().path() != "/metrics" {
        (
            http::StatusCode::NOT_FOUND,
            "text/plain",
            "only /metrics is served here\n".to_owned(),
        )
    } else if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        (
            http::StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET\n".to_owned(),
        )
    } else {
        (
            http::StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            global().encode(),
        )
    };
    let mut resp = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ctype),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_follows_enable_and_names_are_conventional() {
        let m = Metrics::new();
        m.request("GetClass", "OK", Duration::from_millis(1));
        assert!(!m.encode().contains("GetClass"), "off until enabled");
        m.enable();
        m.request("GetClass", "OK", Duration::from_millis(1));
        m.request("GetClass", "CIM_ERR_NOT_FOUND", Duration::from_millis(2));
        m.indication(true);
        m.indication(false);
        let text = m.encode();
        assert!(
            text.contains("cimomd_cim_requests_total{operation=\"GetClass\",status=\"OK\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("cimomd_cim_request_duration_seconds_count{operation=\"GetClass\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("cimomd_indication_deliveries_total 1"),
            "{text}"
        );
        assert!(
            text.contains("cimomd_indication_delivery_failures_total 1"),
            "{text}"
        );
    }

    #[test]
    fn operation_labels_are_bounded() {
        let m = Metrics::new();
        m.enable();
        for i in 0..MAX_OPERATIONS + 10 {
            m.request(&format!("Method{i}"), "OK", Duration::ZERO);
        }
        assert!(m.encode().contains("operation=\"other\""));
    }
}
