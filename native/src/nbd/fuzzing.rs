//! In-memory entry point for the `nbd_parse` fuzz target: the server's own
//! greeting, option haggling and request-header parsing run over a byte
//! slice (client side) and a `Vec` (server side), with no sockets, no
//! runtime and no threads (export lookups run in place), so one execution
//! costs microseconds.
//!
//! Input: byte 0 picks the session — bits 0–1 the TLS mode (off, on,
//! require, require), bit 2 a client identity, bit 3 an allow-list that
//! admits only export `ro`. The rest is what the client sends: client flags,
//! options (an acknowledged `NBD_OPT_STARTTLS` continues as if the TLS
//! handshake had succeeded, as the server does inside TLS), then, once an
//! export is chosen, transmission request headers (a write's payload is
//! skipped) checked against that export as the reader task checks them.
//!
//! Exports: `rw` (1 MiB, writable) and `ro` (64 KiB, read-only); the devices
//! are never called (the parse path stops before the device).

use super::handshake::{self, Outcome, Session};
use super::proto::*;
use super::tls::{AllowList, NbdTls, TlsMode};
use super::transmission;
use super::NbdConfig;
use crate::blockdev::{BlockDevice, ExportSource};
use std::sync::Arc;

struct NoDevice {
    size: u64,
    read_only: bool,
}

impl BlockDevice for NoDevice {
    fn size(&self) -> u64 {
        self.size
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
    fn read_at(&self, _: &mut [u8], _: u64) -> crate::Result<()> {
        unreachable!("the parse path never reads")
    }
    fn write_at(&self, _: &[u8], _: u64, _: bool) -> crate::Result<()> {
        unreachable!("the parse path never writes")
    }
    fn flush(&self) -> crate::Result<()> {
        unreachable!("the parse path never flushes")
    }
    fn trim(&self, _: u64, _: u64) -> crate::Result<()> {
        unreachable!("the parse path never trims")
    }
}

struct Exports;

impl ExportSource for Exports {
    fn export_names(&self) -> Vec<String> {
        vec!["rw".into(), "ro".into()]
    }
    fn open_export(&self, name: &str) -> Option<Arc<dyn BlockDevice>> {
        let (size, read_only) = match name {
            "rw" => (1 << 20, false),
            "ro" => (64 << 10, true),
            _ => return None,
        };
        Some(Arc::new(NoDevice { size, read_only }))
    }
}

/// Runs a future that never waits: in-memory reads and writes are always
/// ready and lookups run in place, so a pending poll is a hang (a bug).
fn ready<T>(fut: impl std::future::Future<Output = T>) -> T {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(fut).poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the negotiation waited on in-memory input"),
    }
}

/// Runs one client byte stream through the server's parsers; returns how
/// many transmission requests were admitted. Panics only on a bug: a parser
/// panicking, a malformed reply stream, or an admitted request the export
/// cannot serve.
pub fn session(input: &[u8]) -> usize {
    let Some((&pick, mut rd)) = input.split_first() else {
        return 0;
    };
    let tls = NbdTls {
        mode: [
            TlsMode::Off,
            TlsMode::On,
            TlsMode::Require,
            TlsMode::Require,
        ][usize::from(pick & 3)],
        acceptor: None,
        allow: if pick & 8 != 0 {
            AllowList {
                all: Vec::new(),
                per_export: [("ro".to_string(), vec!["client".to_string()])].into(),
            }
        } else {
            AllowList::default()
        },
        verify_peer: pick & 8 != 0,
    };
    let identities = if pick & 4 != 0 {
        vec!["client".to_string()]
    } else {
        Vec::new()
    };
    let source: Arc<dyn ExportSource> = Arc::new(Exports);
    let config = NbdConfig::default();
    let mut out = Vec::new();
    let export = ready(async {
        let flags = handshake::greet(&mut rd, &mut out).await.ok()??;
        let mut session = Session {
            tls: &tls,
            tls_active: false,
            identities: &[],
            inline_lookups: true,
        };
        loop {
            let max = config.max_request_bytes;
            match handshake::options(&mut rd, &mut out, &source, max, flags, &session).await {
                Ok(Outcome::Transmission(export)) => return Some(export),
                Ok(Outcome::StartTls) if !session.tls_active => {
                    session.tls_active = true;
                    session.identities = &identities;
                }
                Ok(Outcome::StartTls) => panic!("STARTTLS acknowledged inside TLS"),
                Ok(Outcome::Closed) | Err(_) => return None,
            }
        }
    });
    check_replies(&out);
    let Some(export) = export else {
        return 0;
    };
    let mut admitted = 0;
    assert!(export.size == 1 << 20 || export.size == 64 << 10);
    while let Some((head, rest)) = rd.split_first_chunk::<REQUEST_LEN>() {
        rd = rest;
        let Ok(Some(req)) = transmission::header(head, &config) else {
            break;
        };
        if req.kind == CMD_WRITE {
            rd = &rd[rd.len().min(req.length as usize)..];
        }
        if transmission::check(&req, &config, export.read_only, export.size).is_none()
            && req.kind != CMD_FLUSH
        {
            // Admitted: it must lie inside the export, and writes only on a
            // writable one.
            let end = req.offset + u64::from(req.length);
            assert!(end <= export.size, "{req:?} admitted past the end");
            assert!(req.kind == CMD_READ || !export.read_only, "{req:?} on ro");
            admitted += 1;
        }
    }
    admitted
}

/// The server's output: the greeting, then option replies (each with the
/// reply magic and a length that matches), possibly ended by the
/// `NBD_OPT_EXPORT_NAME` answer (size, flags and maybe 124 zero bytes).
fn check_replies(out: &[u8]) {
    assert!(out.len() >= 18, "no greeting");
    let mut at = &out[18..];
    while !at.is_empty() {
        if at.len() >= 8 && be_u64(&at[..8]) == OPT_REPLY_MAGIC && at.len() >= 20 {
            let len = be_u32(&at[16..20]) as usize;
            assert!(at.len() >= 20 + len, "option reply cut short");
            at = &at[20 + len..];
        } else {
            assert!(
                at.len() == 10 || at.len() == 134,
                "trailing {} bytes that are no option reply",
                at.len()
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(out: &mut Vec<u8>, option: u32, data: &[u8]) {
        out.extend_from_slice(&IHAVEOPT.to_be_bytes());
        out.extend_from_slice(&option.to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
    }

    fn request(out: &mut Vec<u8>, kind: u16, offset: u64, length: u32) {
        let r = Request {
            flags: 0,
            kind,
            cookie: 7,
            offset,
            length,
        };
        out.extend_from_slice(&r.encode());
        if kind == CMD_WRITE {
            out.extend(std::iter::repeat_n(0xAB, length as usize));
        }
    }

    #[test]
    fn a_session_reaches_transmission_and_checks_ranges() {
        let mut s = vec![0u8];
        s.extend_from_slice(&KNOWN_CLIENT_FLAGS.to_be_bytes());
        option(&mut s, OPT_LIST, b"");
        let mut go = 2u32.to_be_bytes().to_vec();
        go.extend_from_slice(b"rw");
        go.extend_from_slice(&0u16.to_be_bytes());
        option(&mut s, OPT_GO, &go);
        request(&mut s, CMD_READ, 0, 4096);
        request(&mut s, CMD_WRITE, 4096, 512);
        request(&mut s, CMD_READ, 1 << 20, 1); // past the end: refused
        request(&mut s, CMD_FLUSH, 0, 0);
        assert_eq!(session(&s), 2);
        // TLS required: GO is refused until STARTTLS, then allowed.
        s[0] = 2;
        assert_eq!(session(&s), 0);
        let mut t = vec![2u8];
        t.extend_from_slice(&KNOWN_CLIENT_FLAGS.to_be_bytes());
        option(&mut t, OPT_STARTTLS, b"");
        t.extend_from_slice(&s[5..]);
        assert_eq!(session(&t), 2);
        // Garbage and truncated input end quietly.
        assert_eq!(session(&[]), 0);
        for n in 0..t.len() {
            assert!(session(&t[..n]) <= 2);
        }
    }
}
