//! The imaging engine's and NBD export's Prometheus metrics, added to
//! [`cimom::metrics::global`] when `--metrics-listen` is on ([`install`]).
//!
//! | name | type | labels |
//! |---|---|---|
//! | `cimomd_set_state` | gauge (1 for the current state) | `set`, `state` |
//! | `cimomd_set_synchronized_ratio` | gauge 0–1 | `set` |
//! | `cimomd_set_copy_remaining_bytes` | gauge | `set` |
//! | `cimomd_set_copy_bytes_per_second` | gauge (between two scrapes) | `set` |
//! | `cimomd_nbd_connections` | gauge (open now) | `export` |
//! | `cimomd_nbd_connections_opened_total` | counter | `export` |
//! | `cimomd_nbd_reads_total`, `cimomd_nbd_writes_total` | counter | `export` |
//! | `cimomd_nbd_read_bytes_total`, `cimomd_nbd_written_bytes_total` | counter | `export` |
//! | `cimomd_nbd_request_duration_seconds` | histogram (device time) | `export`, `op` (`read`, `write`, `other`) |
//! | `cimomd_bitmap_syncs_total` | counter | — |
//! | `cimomd_cow_first_writes_total` | counter | — (chunks preserved by copy-on-write) |
//!
//! `set` is the set name, or the shadow path for a set without one.

use native::probe::{ExportProbe, NbdOp, Probe};
use native::Engine;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SetLabel {
    set: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SetStateLabels {
    set: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExportLabel {
    export: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExportOpLabels {
    export: String,
    op: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone)]
struct NbdFamilies {
    open: Family<ExportLabel, Gauge>,
    opened: Family<ExportLabel, Counter>,
    reads: Family<ExportLabel, Counter>,
    writes: Family<ExportLabel, Counter>,
    read_bytes: Family<ExportLabel, Counter>,
    written_bytes: Family<ExportLabel, Counter>,
    latency: Family<ExportOpLabels, Histogram>,
}

struct EngineProbe {
    nbd: NbdFamilies,
    bitmap_syncs: Counter,
    cow_first_writes: Counter,
}

/// One NBD connection's handles, resolved once so that a request costs a few
/// atomic adds and one histogram observation.
struct ConnProbe {
    open: Gauge,
    reads: Counter,
    writes: Counter,
    read_bytes: Counter,
    written_bytes: Counter,
    latency: [Histogram; 3],
}

impl ExportProbe for ConnProbe {
    fn request(&self, op: NbdOp, bytes: u64, took: Duration) {
        match op {
            NbdOp::Read => {
                self.reads.inc();
                self.read_bytes.inc_by(bytes);
            }
            NbdOp::Write => {
                self.writes.inc();
                self.written_bytes.inc_by(bytes);
            }
            NbdOp::Other => {}
        }
        self.latency[op as usize].observe(took.as_secs_f64());
    }
}

impl Drop for ConnProbe {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl Probe for EngineProbe {
    fn export_opened(&self, export: &str) -> Arc<dyn ExportProbe> {
        let label = ExportLabel {
            export: export.to_owned(),
        };
        let n = &self.nbd;
        n.opened.get_or_create(&label).inc();
        let open = n.open.get_or_create(&label).clone();
        open.inc();
        let hist = |op: &str| {
            n.latency
                .get_or_create(&ExportOpLabels {
                    export: export.to_owned(),
                    op: op.to_owned(),
                })
                .clone()
        };
        Arc::new(ConnProbe {
            open,
            reads: n.reads.get_or_create(&label).clone(),
            writes: n.writes.get_or_create(&label).clone(),
            read_bytes: n.read_bytes.get_or_create(&label).clone(),
            written_bytes: n.written_bytes.get_or_create(&label).clone(),
            // Indexed by NbdOp as usize: Read, Write, Other.
            latency: [hist("read"), hist("write"), hist("other")],
        })
    }

    fn bitmap_sync(&self) {
        self.bitmap_syncs.inc();
    }

    fn cow_first_write(&self) {
        self.cow_first_writes.inc();
    }
}

/// Registers the engine and NBD metrics and installs the probe. Call once,
/// when the metrics endpoint is on.
pub fn install(engine: &Engine) {
    let metrics = cimom::metrics::global();
    let nbd = NbdFamilies {
        open: Family::default(),
        opened: Family::default(),
        reads: Family::default(),
        writes: Family::default(),
        read_bytes: Family::default(),
        written_bytes: Family::default(),
        latency: Family::new_with_constructor(
            cimom::metrics::latency_histogram as fn() -> Histogram,
        ),
    };
    let probe = EngineProbe {
        nbd: nbd.clone(),
        bitmap_syncs: Counter::default(),
        cow_first_writes: Counter::default(),
    };
    let state = Family::<SetStateLabels, Gauge>::default();
    let ratio = Family::<SetLabel, FloatGauge>::default();
    let remaining = Family::<SetLabel, Gauge>::default();
    let rate = Family::<SetLabel, FloatGauge>::default();
    metrics.register(|r: &mut Registry| {
        r.register(
            "cimomd_set_state",
            "Current state of a set (1)",
            state.clone(),
        );
        r.register(
            "cimomd_set_synchronized_ratio",
            "Share of the shadow equal to the master (0 to 1)",
            ratio.clone(),
        );
        r.register_with_unit(
            "cimomd_set_copy_remaining",
            "Data still to copy by the running or pending copy or update",
            Unit::Bytes,
            remaining.clone(),
        );
        r.register(
            "cimomd_set_copy_bytes_per_second",
            "Copy speed between the last two scrapes",
            rate.clone(),
        );
        r.register(
            "cimomd_nbd_connections",
            "Open NBD connections",
            nbd.open.clone(),
        );
        // The per-export counters: (name, help, unit, family).
        let counters = [
            (
                "cimomd_nbd_connections_opened",
                "NBD connections that entered transmission",
                None,
                &nbd.opened,
            ),
            ("cimomd_nbd_reads", "NBD read requests", None, &nbd.reads),
            ("cimomd_nbd_writes", "NBD write requests", None, &nbd.writes),
            (
                "cimomd_nbd_read",
                "Bytes read through NBD",
                Some(Unit::Bytes),
                &nbd.read_bytes,
            ),
            (
                "cimomd_nbd_written",
                "Bytes written through NBD",
                Some(Unit::Bytes),
                &nbd.written_bytes,
            ),
        ];
        for (name, help, unit, family) in counters {
            match unit {
                Some(unit) => r.register_with_unit(name, help, unit, family.clone()),
                None => r.register(name, help, family.clone()),
            }
        }
        r.register_with_unit(
            "cimomd_nbd_request_duration",
            "Device time of NBD requests",
            Unit::Seconds,
            nbd.latency.clone(),
        );
        r.register(
            "cimomd_bitmap_syncs",
            "Bitmap volume writes made durable",
            probe.bitmap_syncs.clone(),
        );
        r.register(
            "cimomd_cow_first_writes",
            "Chunks copied aside by copy-on-write before their first write",
            probe.cow_first_writes.clone(),
        );
    });
    if !native::probe::install(Box::new(probe)) {
        tracing::warn!("an engine probe is already installed; NBD and bitmap metrics stay off");
    }
    let engine = engine.clone();
    let last: Mutex<HashMap<String, (u64, Instant)>> = Mutex::new(HashMap::new());
    metrics.on_scrape(move || {
        let sets = engine.sets();
        let now = Instant::now();
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        state.clear();
        ratio.clear();
        remaining.clear();
        rate.clear();
        let mut seen = HashMap::with_capacity(sets.len());
        for s in &sets {
            let name = if s.name.is_empty() {
                s.shadow.display().to_string()
            } else {
                s.name.clone()
            };
            let left = s.copy_bits * native::types::CHUNK_SIZE;
            let label = SetLabel { set: name.clone() };
            state
                .get_or_create(&SetStateLabels {
                    set: name.clone(),
                    state: s.state.as_str().to_owned(),
                })
                .set(1);
            ratio
                .get_or_create(&label)
                .set(f64::from(s.percent_synchronized) / 100.0);
            remaining
                .get_or_create(&label)
                .set(i64::try_from(left).unwrap_or(i64::MAX));
            let speed = match last.get(&name) {
                Some(&(before, at)) if s.copy_active && before >= left => {
                    let secs = now.duration_since(at).as_secs_f64();
                    if secs > 0.0 {
                        (before - left) as f64 / secs
                    } else {
                        0.0
                    }
                }
                _ => 0.0,
            };
            rate.get_or_create(&label).set(speed);
            seen.insert(name, (left, now));
        }
        *last = seen;
    });
}
