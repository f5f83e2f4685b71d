//! Codec throughput: decode and encode an EnumerateInstances response of
//! 10,000 instances with 20 properties each (about 24 MB), next to quick-xml's
//! raw tokenization of the same document as the reference.
//!
//! `cargo bench -p cim --bench codec` prints a summary in MB/s (and the
//! ratio to raw tokenization) before criterion's own measurements.
//! Goals: decode ≥ 200 MB/s, encode ≥ 400 MB/s.

use cim::ops::{IMethodResponse, Message, MessageBody, Response};
use cim::xml::{read_message, write_message, Limits};
use cim::{CimType, DateTime, Instance, ObjectPath, Value};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};

const INSTANCES: usize = 10_000;

/// One instance of a DS_IISet-like class: 2 keys and 18 other properties of
/// mixed types, string values of realistic length.
fn instance(i: usize) -> Instance {
    let shadow = format!("/dev/vx/rdsk/imagegroup{:03}/shadow-volume-{i:06}", i % 100);
    let mut inst = Instance::new("DS_IISet")
        .with(
            "shadowVolume",
            CimType::String,
            Value::String(shadow.clone()),
        )
        .with(
            "setType",
            CimType::String,
            Value::String("dependent".into()),
        )
        .with(
            "masterVolume",
            CimType::String,
            Value::String(format!(
                "/dev/vx/rdsk/imagegroup{:03}/master-volume-{i:06}",
                i % 100
            )),
        )
        .with(
            "bitmapVolume",
            CimType::String,
            Value::String(format!(
                "/dev/vx/rdsk/imagegroup{:03}/bitmap-volume-{i:06}",
                i % 100
            )),
        )
        .with(
            "setName",
            CimType::String,
            Value::String(format!("set-{i:06}-nightly-backup")),
        )
        .with(
            "overflowVolume",
            CimType::String,
            Value::String(format!("/dev/vx/rdsk/overflow/ovf-{:04}", i % 1000)),
        )
        .with(
            "groupName",
            CimType::String,
            Value::String(format!("group-{:03}-production", i % 100)),
        )
        .with(
            "state",
            CimType::String,
            Value::String("copying &lt;busy&gt; since the last update request".into()),
        )
        .with(
            "volumeSizeBlocks",
            CimType::Uint64,
            Value::Uint64(209_715_200 + i as u64),
        )
        .with(
            "shadowSizeBlocks",
            CimType::Uint64,
            Value::Uint64(209_715_200 + 2 * i as u64),
        )
        .with(
            "bitsSet",
            CimType::Uint64,
            Value::Uint64((i as u64 * 7919) % 3_276_800),
        )
        .with("chunkSize", CimType::Uint32, Value::Uint32(32_768))
        .with("copyPercent", CimType::Uint8, Value::Uint8((i % 101) as u8))
        .with(
            "copyInProgress",
            CimType::Boolean,
            Value::Boolean(matches!(i % 3, 0)),
        )
        .with(
            "updateInProgress",
            CimType::Boolean,
            Value::Boolean(matches!(i % 5, 0)),
        )
        .with("independent", CimType::Boolean, Value::Boolean(false))
        .with(
            "lastErrorCode",
            CimType::Sint32,
            Value::Sint32(-((i % 7) as i32)),
        )
        .with(
            "created",
            CimType::DateTime,
            Value::DateTime(DateTime::from_unix_seconds(1_700_000_000 + i as u64)),
        )
        .with(
            "description",
            CimType::String,
            Value::String(format!(
                "point-in-time copy set number {i} for database volume group {}, retained for fourteen days; created by the nightly schedule of the storage operations team, verified after every update copy",
                i % 100
            )),
        )
        .with(
            "owner",
            CimType::String,
            Value::String("operations-team@example.com (storage administration, on call)".into()),
        );
    inst.path = Some(
        ObjectPath::class(None, "DS_IISet")
            .with_key("shadowVolume", Value::String(shadow))
            .with_key("setType", Value::String("dependent".into())),
    );
    inst
}

fn document() -> (Message, Vec<u8>) {
    let msg = Message {
        id: "1001".into(),
        protocol_version: "1.0".into(),
        body: MessageBody::IMethodResponse(IMethodResponse {
            name: "EnumerateInstances".into(),
            result: Ok(Response::NamedInstances(
                (0..INSTANCES).map(instance).collect(),
            )),
        }),
    };
    let mut out = Vec::new();
    write_message(&msg, &mut out);
    (msg, out)
}

fn limits() -> Limits {
    Limits {
        max_elements: 16 * 1024 * 1024,
        ..Limits::default()
    }
}

fn tokenize(doc: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(doc);
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => return n,
            Ok(_) => n += 1,
            Err(e) => panic!("tokenize: {e}"),
        }
    }
}

/// Best of `n` runs, in seconds.
fn best(n: usize, mut f: impl FnMut()) -> f64 {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn summary(msg: &Message, doc: &[u8]) {
    let mb = doc.len() as f64 / 1e6;
    let lim = limits();
    let tok = best(5, || {
        black_box(tokenize(black_box(doc)));
    });
    // Decode time excludes freeing the decoded model (measured separately).
    let mut dec = f64::INFINITY;
    let mut free = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let m = black_box(read_message(black_box(doc), &lim).unwrap());
        dec = dec.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        drop(m);
        free = free.min(t.elapsed().as_secs_f64());
    }
    let mut buf = Vec::with_capacity(doc.len() + 1024);
    let enc = best(5, || {
        buf.clear();
        write_message(black_box(msg), &mut buf);
        black_box(&buf);
    });
    println!(
        "codec summary: document {mb:.1} MB, {INSTANCES} instances x 20 properties\n  \
         quick-xml tokenize: {:7.0} MB/s\n  \
         decode:             {:7.0} MB/s ({:.2}x tokenize time; {:.0} MB/s counting the drop)\n  \
         encode:             {:7.0} MB/s",
        mb / tok,
        mb / dec,
        dec / tok,
        mb / (dec + free),
        mb / enc
    );
}

fn bench(c: &mut Criterion) {
    let (msg, doc) = document();
    // CODEC_PROFILE=decode|encode|tokenize|none: run that 10 times and stop, for
    // `perf stat`/`perf record` (instruction counts do not depend on load).
    if let Ok(what) = std::env::var("CODEC_PROFILE") {
        let lim = limits();
        for _ in 0..10 {
            match what.as_str() {
                "decode" => drop(black_box(read_message(&doc, &lim).unwrap())),
                "tokenize" => drop(black_box(tokenize(&doc))),
                "encode" => {
                    let mut out = Vec::with_capacity(doc.len());
                    write_message(&msg, &mut out);
                    black_box(out);
                }
                _ => {}
            }
        }
        std::process::exit(0);
    }
    assert_eq!(read_message(&doc, &limits()).unwrap(), msg);
    summary(&msg, &doc);
    let mut g = c.benchmark_group("enumerate_instances_10k");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("tokenize_quick_xml", |b| {
        b.iter(|| tokenize(black_box(&doc)))
    });
    let lim = limits();
    g.bench_function("decode", |b| {
        // Time the decode only; each result is freed outside the timed region
        // (holding many 10k-instance results at once would measure paging).
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let m = read_message(black_box(&doc), &lim).unwrap();
                total += t.elapsed();
                drop(m);
            }
            total
        })
    });
    let mut buf = Vec::with_capacity(doc.len() + 1024);
    g.bench_function("encode", |b| {
        b.iter(|| {
            buf.clear();
            write_message(black_box(&msg), &mut buf);
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
