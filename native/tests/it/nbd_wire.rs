//! The NBD server byte by byte over raw sockets: the handshake, every command
//! and its errors, concurrency within one connection, malformed input (after
//! which the server must keep serving other clients), and shutdown.

use crate::nbd_common::*;
use native::nbd::proto::*;
use native::nbd::{FileExport, NbdConfig};
use native::{BlockDevice, Error, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const SIZE: usize = 1 << 20;

/// What INFO/GO answered: size, transmission flags, and every
/// `NBD_REP_INFO` as (type, payload after the type).
type ExportInfo = (u64, u16, Vec<(u16, Vec<u8>)>);

/// A blocking NBD client speaking raw bytes.
struct Raw {
    s: TcpStream,
}

impl Raw {
    /// Connects and checks the server's greeting.
    fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = Raw { s };
        let g = r.read_n(18);
        assert_eq!(&g[0..8], b"NBDMAGIC");
        assert_eq!(&g[8..16], b"IHAVEOPT");
        assert_eq!(
            be_u16(&g[16..18]),
            FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES,
            "handshake flags"
        );
        r
    }

    /// Connects and sends the usual client flags.
    fn negotiating(addr: SocketAddr) -> Raw {
        let mut r = Raw::connect(addr);
        r.send(&(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).to_be_bytes());
        r
    }

    /// Connects and enters transmission on `name` with NBD_OPT_GO.
    fn open(addr: SocketAddr, name: &str) -> (Raw, u64, u16) {
        let mut r = Raw::negotiating(addr);
        let (size, flags) = r.go(name).expect("GO succeeds");
        (r, size, flags)
    }

    fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).expect("send");
    }

    fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.s.read_exact(&mut v).expect("read from server");
        v
    }

    fn option(&mut self, option: u32, data: &[u8]) {
        let mut b = Vec::new();
        b.extend_from_slice(&IHAVEOPT.to_be_bytes());
        b.extend_from_slice(&option.to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        self.send(&b);
    }

    /// Reads one option reply: (option, reply type, data).
    fn opt_reply(&mut self) -> (u32, u32, Vec<u8>) {
        let h = self.read_n(20);
        assert_eq!(be_u64(&h[0..8]), OPT_REPLY_MAGIC, "option reply magic");
        let len = be_u32(&h[16..20]) as usize;
        (be_u32(&h[8..12]), be_u32(&h[12..16]), self.read_n(len))
    }

    fn info_data(name: &str, requests: &[u16]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&(name.len() as u32).to_be_bytes());
        d.extend_from_slice(name.as_bytes());
        d.extend_from_slice(&(requests.len() as u16).to_be_bytes());
        for r in requests {
            d.extend_from_slice(&r.to_be_bytes());
        }
        d
    }

    /// Sends INFO or GO and collects the replies: Ok((size, flags, infos)) or
    /// Err(error reply type).
    fn info_or_go(
        &mut self,
        option: u32,
        name: &str,
        requests: &[u16],
    ) -> std::result::Result<ExportInfo, u32> {
        self.option(option, &Raw::info_data(name, requests));
        let mut infos = Vec::new();
        let mut export = None;
        loop {
            let (opt, rep, data) = self.opt_reply();
            assert_eq!(opt, option);
            match rep {
                REP_INFO => {
                    let kind = be_u16(&data[0..2]);
                    if kind == INFO_EXPORT {
                        assert_eq!(data.len(), 12);
                        export = Some((be_u64(&data[2..10]), be_u16(&data[10..12])));
                    }
                    infos.push((kind, data[2..].to_vec()));
                }
                REP_ACK => {
                    let (size, flags) = export.expect("NBD_INFO_EXPORT before ACK");
                    return Ok((size, flags, infos));
                }
                e => {
                    assert!(e & (1 << 31) != 0, "unexpected reply type {e}");
                    return Err(e);
                }
            }
        }
    }

    fn go(&mut self, name: &str) -> std::result::Result<(u64, u16), u32> {
        self.info_or_go(OPT_GO, name, &[INFO_BLOCK_SIZE])
            .map(|(s, f, _)| (s, f))
    }

    fn request(&mut self, kind: u16, flags: u16, cookie: u64, offset: u64, length: u32) {
        let r = Request {
            flags,
            kind,
            cookie,
            offset,
            length,
        };
        self.send(&r.encode());
    }

    /// Reads a simple reply header: (error, cookie).
    fn reply(&mut self) -> (u32, u64) {
        let h = self.read_n(REPLY_LEN);
        assert_eq!(be_u32(&h[0..4]), SIMPLE_REPLY_MAGIC, "reply magic");
        (be_u32(&h[4..8]), be_u64(&h[8..16]))
    }

    fn write(&mut self, cookie: u64, offset: u64, data: &[u8], flags: u16) -> u32 {
        self.request(CMD_WRITE, flags, cookie, offset, data.len() as u32);
        self.send(data);
        let (err, c) = self.reply();
        assert_eq!(c, cookie);
        err
    }

    fn read(&mut self, cookie: u64, offset: u64, len: u32) -> std::result::Result<Vec<u8>, u32> {
        self.request(CMD_READ, 0, cookie, offset, len);
        let (err, c) = self.reply();
        assert_eq!(c, cookie);
        if err != 0 {
            return Err(err);
        }
        Ok(self.read_n(len as usize))
    }

    /// Checks that a WRITE is acknowledged without error.
    fn check_write(&mut self, cookie: u64, offset: u64, data: &[u8], flags: u16) {
        assert_eq!(
            self.write(cookie, offset, data, flags),
            0,
            "write at {offset}"
        );
    }

    /// Checks that a READ of `want.len()` bytes succeeds and returns `want`.
    fn check_read(&mut self, cookie: u64, offset: u64, want: &[u8]) {
        let got = self.read(cookie, offset, want.len() as u32);
        assert_eq!(got.as_deref(), Ok(want), "read at {offset}");
    }

    /// Checks that a READ fails with `errno`.
    fn check_read_fails(&mut self, cookie: u64, offset: u64, len: u32, errno: u32) {
        assert_eq!(
            self.read(cookie, offset, len).err(),
            Some(errno),
            "read at {offset}"
        );
    }

    fn simple(&mut self, kind: u16, flags: u16, cookie: u64, offset: u64, len: u32) -> u32 {
        self.request(kind, flags, cookie, offset, len);
        let (err, c) = self.reply();
        assert_eq!(c, cookie);
        err
    }

    /// Asserts that the server closes the connection (EOF or reset) without
    /// sending anything more.
    fn expect_closed(&mut self) {
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Ok(0) => {}
            Ok(_) => panic!("server sent data instead of closing"),
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "server did not close the connection: {e}"
            ),
        }
    }
}

/// A server over two 1 MiB files, one writable and one read-only.
fn setup() -> (tempfile::TempDir, TestServer, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let rw = volume(dir.path(), "rw.img", SIZE, 0);
    let ro = volume(dir.path(), "ro.img", SIZE, 0x5a);
    let (ex, names) = exports(&[(&rw, false), (&ro, true)]);
    let server = TestServer::start(ex);
    (dir, server, names[0].clone(), names[1].clone())
}

/// A fresh client can still open an export and read from it.
fn assert_serving(addr: SocketAddr, name: &str) {
    let (mut c, size, _) = Raw::open(addr, name);
    assert_eq!(size, SIZE as u64);
    c.read(1, 0, 4096)
        .expect("read after malformed input elsewhere");
    c.request(CMD_DISC, 0, 2, 0, 0);
    c.expect_closed();
}

#[test]
fn greeting_list_and_option_errors() {
    let (_d, srv, rw, ro) = setup();
    let mut c = Raw::negotiating(srv.addr);

    c.option(OPT_LIST, &[]);
    let mut listed = Vec::new();
    loop {
        let (opt, rep, data) = c.opt_reply();
        assert_eq!(opt, OPT_LIST);
        if rep == REP_ACK {
            assert!(data.is_empty());
            break;
        }
        assert_eq!(rep, REP_SERVER);
        let n = be_u32(&data[0..4]) as usize;
        listed.push(String::from_utf8(data[4..4 + n].to_vec()).unwrap());
    }
    let mut expected = vec![rw.clone(), ro.clone()];
    expected.sort();
    assert_eq!(listed, expected);

    c.option(OPT_LIST, b"junk");
    assert_eq!(c.opt_reply().1, REP_ERR_INVALID);
    for unsupported in [OPT_STRUCTURED_REPLY, OPT_STARTTLS, 9, 10, 11, 0x1234_5678] {
        c.option(unsupported, &[]);
        let (opt, rep, _) = c.opt_reply();
        assert_eq!((opt, rep), (unsupported, REP_ERR_UNSUP));
    }
    assert_eq!(
        c.info_or_go(OPT_INFO, "/no/such/volume", &[]).unwrap_err(),
        REP_ERR_UNKNOWN
    );
    assert_eq!(c.info_or_go(OPT_GO, "", &[]).unwrap_err(), REP_ERR_UNKNOWN);
    c.option(OPT_INFO, &[0, 0, 0, 50, b'x']);
    assert_eq!(c.opt_reply().1, REP_ERR_INVALID);

    // INFO describes without leaving negotiation.
    let (size, flags, infos) = c
        .info_or_go(OPT_INFO, &rw, &[INFO_NAME, INFO_BLOCK_SIZE])
        .unwrap();
    assert_eq!(size, SIZE as u64);
    let expected_flags = TFLAG_HAS_FLAGS
        | TFLAG_SEND_FLUSH
        | TFLAG_SEND_FUA
        | TFLAG_SEND_TRIM
        | TFLAG_SEND_WRITE_ZEROES
        | TFLAG_CAN_MULTI_CONN;
    assert_eq!(flags, expected_flags);
    let name = infos.iter().find(|(k, _)| *k == INFO_NAME).unwrap();
    assert_eq!(name.1, rw.as_bytes());
    let bs = &infos.iter().find(|(k, _)| *k == INFO_BLOCK_SIZE).unwrap().1;
    assert_eq!(
        (be_u32(&bs[0..4]), be_u32(&bs[4..8]), be_u32(&bs[8..12])),
        (1, 4096, 32 << 20)
    );

    let (_, ro_flags, _) = c.info_or_go(OPT_INFO, &ro, &[]).unwrap();
    assert_eq!(
        ro_flags,
        TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_CAN_MULTI_CONN | TFLAG_READ_ONLY
    );

    // GO enters transmission.
    let (size, _) = c.go(&rw).unwrap();
    assert_eq!(size, SIZE as u64);
    c.check_read(7, 0, &[0u8; 512]);
    c.request(CMD_DISC, 0, 8, 0, 0);
    c.expect_closed();
}

#[test]
fn export_name_with_and_without_zeroes() {
    let (_d, srv, rw, _) = setup();
    for (client_flags, reply_len) in [
        (FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES, 10),
        (FLAG_C_FIXED_NEWSTYLE, 134),
        (0, 134), // plain newstyle client
    ] {
        let mut c = Raw::connect(srv.addr);
        c.send(&u32::to_be_bytes(client_flags));
        c.option(OPT_EXPORT_NAME, rw.as_bytes());
        let r = c.read_n(reply_len);
        assert_eq!(be_u64(&r[0..8]), SIZE as u64);
        assert_eq!(be_u16(&r[8..10]) & TFLAG_HAS_FLAGS, TFLAG_HAS_FLAGS);
        assert!(r[10..].iter().all(|&b| b == 0));
        c.check_write(1, 4096, &[9u8; 100], 0);
        c.check_read(2, 4096, &[9u8; 100]);
    }
    // EXPORT_NAME cannot answer an error: the server closes.
    let mut c = Raw::negotiating(srv.addr);
    c.option(OPT_EXPORT_NAME, b"/no/such/volume");
    c.expect_closed();
    assert_serving(srv.addr, &rw);
}

#[test]
fn abort_is_acknowledged_then_closed() {
    let (_d, srv, rw, _) = setup();
    let mut c = Raw::negotiating(srv.addr);
    c.option(OPT_ABORT, &[]);
    assert_eq!(c.opt_reply().1, REP_ACK);
    c.expect_closed();
    assert_serving(srv.addr, &rw);
}

#[test]
fn every_command_and_its_errors() {
    let (dir, srv, rw, _) = setup();
    let (mut c, size, _) = Raw::open(srv.addr, &rw);
    let data = pattern(64 * 1024, 3);

    c.check_write(1, 8192, &data, 0);
    c.check_read(2, 8192, &data);
    c.check_write(3, 0, &data[..4096], CMD_FLAG_FUA);
    assert_eq!(c.simple(CMD_FLUSH, 0, 4, 0, 0), 0);
    assert_eq!(c.simple(CMD_WRITE_ZEROES, 0, 5, 8192, 1000), 0);
    assert_eq!(
        c.simple(
            CMD_WRITE_ZEROES,
            CMD_FLAG_NO_HOLE | CMD_FLAG_FUA,
            6,
            9192,
            24
        ),
        0
    );
    c.check_read(7, 8192, &[0u8; 1024]);
    assert_eq!(c.simple(CMD_TRIM, 0, 8, 65536, 4096), 0);
    assert_eq!(c.simple(CMD_TRIM, CMD_FLAG_FUA, 9, 65536, 4096), 0);
    // FUA is accepted on any command; zero lengths succeed.
    assert_eq!(c.read(10, 0, 0).unwrap(), Vec::<u8>::new());
    c.request(CMD_READ, CMD_FLAG_FUA, 11, 0, 16);
    assert_eq!(c.reply(), (0, 11));
    c.read_n(16);
    c.check_write(12, 0, &[], 0);

    // Errors, each leaving the connection usable.
    c.check_read_fails(20, size - 10, 11, EINVAL);
    c.check_read_fails(21, u64::MAX - 5, 10, EINVAL);
    assert_eq!(c.write(22, size - 10, &[1u8; 11], 0), ENOSPC);
    assert_eq!(c.simple(CMD_TRIM, 0, 23, size, 1), ENOSPC);
    assert_eq!(c.simple(CMD_WRITE_ZEROES, 0, 24, size - 1, 2), ENOSPC);
    for unknown in [5u16, 7, 8, 99] {
        assert_eq!(
            c.simple(unknown, 0, 25, 0, 512),
            EINVAL,
            "command {unknown}"
        );
    }
    assert_eq!(c.simple(CMD_READ, 1 << 2, 26, 0, 512), EINVAL, "DF flag");
    assert_eq!(c.simple(CMD_WRITE_ZEROES, 1 << 4, 27, 0, 512), EINVAL);
    assert_eq!(c.write(28, 0, &[1u8; 16], CMD_FLAG_NO_HOLE), EINVAL);
    c.check_read_fails(29, 0, (32 << 20) + 1, EINVAL);
    assert_eq!(c.read(30, 0, SIZE as u32).unwrap().len(), SIZE);

    c.request(CMD_DISC, 0, 40, 0, 0);
    c.expect_closed();

    // Only the successful writes reached the file.
    let file = std::fs::read(dir.path().join("rw.img")).unwrap();
    assert_eq!(&file[..4096], &data[..4096]);
    assert_eq!(&file[8192..9216], &[0u8; 1024][..]);
    assert_eq!(&file[9216..8192 + data.len()], &data[1024..]);
    assert_eq!(file[SIZE - 10..], [0u8; 10]);
}

#[test]
fn read_only_export_refuses_writes_with_eperm() {
    let (dir, srv, _, ro) = setup();
    let (mut c, _, flags) = Raw::open(srv.addr, &ro);
    assert_ne!(flags & TFLAG_READ_ONLY, 0);
    assert_eq!(c.write(1, 0, &[1u8; 4096], 0), EPERM);
    assert_eq!(c.simple(CMD_TRIM, 0, 2, 0, 4096), EPERM);
    assert_eq!(c.simple(CMD_WRITE_ZEROES, 0, 3, 0, 4096), EPERM);
    assert_eq!(c.simple(CMD_FLUSH, 0, 4, 0, 0), 0);
    c.check_read(5, 0, &[0x5a; 4096]);
    let file = std::fs::read(dir.path().join("ro.img")).unwrap();
    assert!(file.iter().all(|&b| b == 0x5a));
}

#[test]
fn pipelined_requests_all_answered_with_their_cookies() {
    let (dir, srv, rw, _) = setup();
    let (mut c, _, _) = Raw::open(srv.addr, &rw);
    // 256 writes sent back to back, more than the in-flight limit.
    let n = 256u64;
    let mut batch = Vec::new();
    for i in 0..n {
        let r = Request {
            flags: 0,
            kind: CMD_WRITE,
            cookie: 1000 + i,
            offset: i * 4096,
            length: 4096,
        };
        batch.extend_from_slice(&r.encode());
        batch.extend_from_slice(&pattern(4096, i as u8));
    }
    c.send(&batch);
    let mut seen: Vec<u64> = (0..n)
        .map(|_| c.reply())
        .map(|(e, k)| {
            assert_eq!(e, 0);
            k
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1000..1000 + n).collect::<Vec<_>>());

    // And 256 reads, whose replies may come back in any order.
    for i in 0..n {
        c.request(CMD_READ, 0, 5000 + i, i * 4096, 4096);
    }
    let mut got = 0;
    for _ in 0..n {
        let (e, k) = c.reply();
        assert_eq!(e, 0);
        let i = k - 5000;
        assert_eq!(c.read_n(4096), pattern(4096, i as u8), "block {i}");
        got += 1;
    }
    assert_eq!(got, n);
    let file = std::fs::read(dir.path().join("rw.img")).unwrap();
    for i in 0..n as usize {
        assert_eq!(&file[i * 4096..(i + 1) * 4096], &pattern(4096, i as u8)[..]);
    }
}

/// A device whose read at offset 0 only completes once a read at another
/// offset has started: served one at a time, the connection would stall.
struct Rendezvous {
    inner: Arc<dyn BlockDevice>,
    met: Mutex<bool>,
    cv: Condvar,
}

impl BlockDevice for Rendezvous {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut met = self.met.lock().unwrap();
        if offset == 0 {
            let (m, timeout) = self
                .cv
                .wait_timeout_while(met, Duration::from_secs(10), |m| !*m)
                .unwrap();
            if timeout.timed_out() {
                return Err(Error::Precondition("requests were serialised".into()));
            }
            drop(m);
        } else {
            *met = true;
            self.cv.notify_all();
            drop(met);
        }
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()> {
        self.inner.write_at(buf, offset, fua)
    }
    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
    fn trim(&self, offset: u64, len: u64) -> Result<()> {
        self.inner.trim(offset, len)
    }
}

#[test]
fn requests_on_one_connection_run_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let path = volume(dir.path(), "v.img", SIZE, 0x11);
    let ex = FileExport::new();
    ex.insert(
        "/rendezvous",
        Arc::new(Rendezvous {
            inner: Arc::new(native::nbd::FileDevice::open(&path, false).unwrap()),
            met: Mutex::new(false),
            cv: Condvar::new(),
        }),
    );
    let srv = TestServer::start(Arc::new(ex));
    let (mut c, _, _) = Raw::open(srv.addr, "/rendezvous");
    c.request(CMD_READ, 0, 1, 0, 4096);
    c.request(CMD_READ, 0, 2, 4096, 4096);
    // The second read finishes first, then releases the first.
    for _ in 0..2 {
        let (e, _) = c.reply();
        assert_eq!(e, 0, "the blocked read must be released by the other");
        assert_eq!(c.read_n(4096), vec![0x11; 4096]);
    }
}

/// A device failing in every way the engine can.
struct Failing;

impl BlockDevice for Failing {
    fn size(&self) -> u64 {
        SIZE as u64
    }
    fn read_at(&self, _buf: &mut [u8], offset: u64) -> Result<()> {
        let path = PathBuf::from("/failing");
        Err(match offset {
            0 => Error::Io {
                path,
                source: std::io::Error::from_raw_os_error(5),
            },
            4096 => Error::Io {
                path,
                source: std::io::Error::from_raw_os_error(28),
            },
            8192 => Error::PermissionDenied {
                path,
                reason: "exported shadow".into(),
            },
            12288 => Error::OutOfRange {
                what: "read",
                path,
                offset,
                len: 1,
                size: 1,
            },
            _ => panic!("device bug"),
        })
    }
    fn write_at(&self, _buf: &[u8], _offset: u64, _fua: bool) -> Result<()> {
        Err(Error::Precondition("set is offline".into()))
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn trim(&self, _offset: u64, _len: u64) -> Result<()> {
        Ok(())
    }
}

#[test]
fn device_errors_become_errno_replies() {
    let ex = FileExport::new();
    ex.insert("/failing", Arc::new(Failing));
    let srv = TestServer::start(Arc::new(ex));
    let (mut c, _, _) = Raw::open(srv.addr, "/failing");
    c.check_read_fails(1, 0, 512, EIO);
    c.check_read_fails(2, 4096, 512, ENOSPC);
    c.check_read_fails(3, 8192, 512, EPERM);
    c.check_read_fails(4, 12288, 512, EINVAL);
    assert_eq!(c.read(5, 65536, 512).unwrap_err(), EIO, "a panic is EIO");
    assert_eq!(c.write(6, 0, &[0u8; 512], 0), EIO);
    // The connection survives all of that.
    assert_eq!(c.simple(CMD_FLUSH, 0, 7, 0, 0), 0);
}

#[test]
fn malformed_input_closes_only_that_connection() {
    let (_d, srv, rw, _) = setup();

    // A connection stalled mid-header must not hold anyone up.
    let (mut stalled, _, _) = Raw::open(srv.addr, &rw);
    stalled.send(&[0x25, 0x60]);

    // Unknown client flags.
    let mut c = Raw::connect(srv.addr);
    c.send(&0x8000_0000u32.to_be_bytes());
    c.expect_closed();
    assert_serving(srv.addr, &rw);

    // Bad option magic.
    let mut c = Raw::negotiating(srv.addr);
    c.send(b"IHAVEOPX\0\0\0\x03\0\0\0\0");
    c.expect_closed();
    assert_serving(srv.addr, &rw);

    // Option data far too long.
    let mut c = Raw::negotiating(srv.addr);
    let mut h = IHAVEOPT.to_be_bytes().to_vec();
    h.extend_from_slice(&OPT_GO.to_be_bytes());
    h.extend_from_slice(&(16u32 << 20).to_be_bytes());
    c.send(&h);
    c.expect_closed();
    assert_serving(srv.addr, &rw);

    // Disconnect in the middle of an option.
    let mut c = Raw::negotiating(srv.addr);
    c.send(&IHAVEOPT.to_be_bytes()[..5]);
    drop(c);
    assert_serving(srv.addr, &rw);

    // Bad request magic.
    let (mut c, _, _) = Raw::open(srv.addr, &rw);
    c.send(&[0xde; REQUEST_LEN]);
    c.expect_closed();
    assert_serving(srv.addr, &rw);

    // A write larger than the maximum request size.
    let (mut c, _, _) = Raw::open(srv.addr, &rw);
    c.request(CMD_WRITE, 0, 1, 0, 64 << 20);
    c.send(&[0u8; 4096]);
    c.expect_closed();
    assert_serving(srv.addr, &rw);

    // Disconnect in the middle of a write payload, and mid-header.
    let (mut c, _, _) = Raw::open(srv.addr, &rw);
    c.request(CMD_WRITE, 0, 1, 0, 65536);
    c.send(&[0u8; 1000]);
    drop(c);
    let (mut c, _, _) = Raw::open(srv.addr, &rw);
    c.send(&[0x25, 0x60, 0x95]);
    drop(c);
    // Disconnect with requests in flight and replies never read.
    let (mut c, _, _) = Raw::open(srv.addr, &rw);
    for i in 0..32 {
        c.request(CMD_READ, 0, i, 0, 256 * 1024);
    }
    drop(c);
    assert_serving(srv.addr, &rw);

    // The stalled connection still works once it finishes its request.
    let mut rest = Request {
        flags: 0,
        kind: CMD_READ,
        cookie: 77,
        offset: 0,
        length: 512,
    }
    .encode()
    .to_vec();
    rest.drain(..2);
    stalled.send(&rest);
    assert_eq!(stalled.reply(), (0, 77));
    assert_eq!(stalled.read_n(512).len(), 512);
}

#[test]
fn slow_handshake_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let rw = volume(dir.path(), "rw.img", SIZE, 0);
    let (ex, names) = exports(&[(&rw, false)]);
    let config = NbdConfig {
        handshake_timeout: Duration::from_millis(300),
        ..NbdConfig::default()
    };
    let srv = TestServer::start_with(ex, config);
    let mut idle = Raw::connect(srv.addr);
    std::thread::sleep(Duration::from_millis(600));
    idle.expect_closed();
    assert_serving(srv.addr, &names[0]);
}

#[test]
fn connections_beyond_the_limit_are_closed_and_slots_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume(dir.path(), "v.img", SIZE, 0);
    let (ex, names) = exports(&[(&v, false)]);
    let config = NbdConfig {
        max_connections: 2,
        ..NbdConfig::default()
    };
    let srv = TestServer::start_with(ex, config);
    let (mut a, _, _) = Raw::open(srv.addr, &names[0]);
    let (mut b, _, _) = Raw::open(srv.addr, &names[0]);
    // The third gets no greeting: it is closed at once.
    let mut third = Raw {
        s: TcpStream::connect(srv.addr).unwrap(),
    };
    third
        .s
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    third.expect_closed();
    // The two admitted ones are unaffected.
    a.read(1, 0, 4096).expect("first connection still served");
    b.read(2, 0, 4096).expect("second connection still served");
    // A disconnect frees its slot for the next client.
    a.request(CMD_DISC, 0, 3, 0, 0);
    a.expect_closed();
    drop(a);
    let start = std::time::Instant::now();
    loop {
        let mut probe = Raw {
            s: TcpStream::connect(srv.addr).unwrap(),
        };
        probe
            .s
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut greeting = [0u8; 8];
        if probe.s.read_exact(&mut greeting).is_ok() {
            assert_eq!(&greeting, b"NBDMAGIC");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the freed slot never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(b);
}

/// A device whose writes take a while, to catch requests in flight.
struct Slow(Arc<dyn BlockDevice>);

impl BlockDevice for Slow {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()> {
        std::thread::sleep(Duration::from_millis(400));
        self.0.write_at(buf, offset, fua)
    }
    fn flush(&self) -> Result<()> {
        self.0.flush()
    }
    fn trim(&self, offset: u64, len: u64) -> Result<()> {
        self.0.trim(offset, len)
    }
}

#[test]
fn shutdown_answers_in_flight_requests_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = volume(dir.path(), "v.img", SIZE, 0);
    let ex = FileExport::new();
    ex.insert(
        "/slow",
        Arc::new(Slow(Arc::new(
            native::nbd::FileDevice::open(&path, false).unwrap(),
        ))),
    );
    let mut srv = TestServer::start(Arc::new(ex));
    let addr = srv.addr;
    let (mut busy, _, _) = Raw::open(addr, "/slow");
    let (mut idle, _, _) = Raw::open(addr, "/slow");
    busy.request(CMD_WRITE, 0, 9, 0, 4096);
    busy.send(&[0xee; 4096]);
    std::thread::sleep(Duration::from_millis(100));
    srv.begin_shutdown();
    assert_eq!(busy.reply(), (0, 9), "in-flight write answered");
    busy.expect_closed();
    idle.expect_closed();
    srv.shutdown(Duration::from_secs(5)).expect("clean stop");
    assert!(TcpStream::connect(addr).is_err(), "listener closed");
    assert_eq!(std::fs::read(&path).unwrap()[..4096], [0xee; 4096]);
}

#[test]
fn shutdown_aborts_a_client_that_never_reads_and_releases_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = volume(dir.path(), "v.img", 8 * SIZE, 0x42);
    let dev: Arc<dyn BlockDevice> = Arc::new(native::nbd::FileDevice::open(&path, false).unwrap());
    let ex = FileExport::new();
    ex.insert("/v", Arc::clone(&dev));
    let ex = Arc::new(ex);
    let config = NbdConfig {
        drain_timeout: Duration::from_millis(500),
        ..NbdConfig::default()
    };
    let srv = TestServer::start_with(ex.clone(), config);
    let (mut c, _, _) = Raw::open(srv.addr, "/v");
    // Far more reply data than the socket buffers hold, never read.
    for i in 0..200 {
        c.request(CMD_READ, 0, i, 0, 8 * SIZE as u32);
    }
    std::thread::sleep(Duration::from_millis(300));
    srv.shutdown(Duration::from_secs(5))
        .expect("shutdown returns after the drain timeout");
    ex.remove("/v");
    // The connection's workers and buffers are gone: only our handle is left.
    let start = std::time::Instant::now();
    while Arc::strong_count(&dev) > 1 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        Arc::strong_count(&dev),
        1,
        "a worker still holds the device"
    );
    drop(c);
}
