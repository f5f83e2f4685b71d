//! Wire constants and fixed-size message layouts of the NBD protocol.
//!
//! Every integer on the wire is big-endian ("network byte order"). The names
//! follow the protocol document (`NBD_OPT_GO` is [`OPT_GO`], and so on); only the
//! values this server sends or recognises are listed. Nothing here does I/O, so
//! the parsers are tested by feeding bytes straight in.

/// `"NBDMAGIC"`, the first eight bytes the server sends.
pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
/// `"IHAVEOPT"`, sent by the server after [`NBDMAGIC`] and by the client before
/// every option.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Magic of every option reply (fixed newstyle).
pub const OPT_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Magic of a transmission request.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Magic of a simple reply.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

// Handshake flags (server, 16 bits).
/// The server speaks fixed newstyle.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
/// The server may omit the 124 zero bytes after `NBD_OPT_EXPORT_NAME`.
pub const FLAG_NO_ZEROES: u16 = 1 << 1;

// Client flags (32 bits).
/// The client speaks fixed newstyle.
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
/// The client wants the 124 zero bytes omitted.
pub const FLAG_C_NO_ZEROES: u32 = 1 << 1;
/// Every client flag this server understands; any other bit closes the connection.
pub const KNOWN_CLIENT_FLAGS: u32 = FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES;

// Transmission flags (16 bits).
/// Always set.
pub const TFLAG_HAS_FLAGS: u16 = 1 << 0;
/// The export refuses writes.
pub const TFLAG_READ_ONLY: u16 = 1 << 1;
/// `NBD_CMD_FLUSH` is supported.
pub const TFLAG_SEND_FLUSH: u16 = 1 << 2;
/// `NBD_CMD_FLAG_FUA` is supported.
pub const TFLAG_SEND_FUA: u16 = 1 << 3;
/// `NBD_CMD_TRIM` is supported.
pub const TFLAG_SEND_TRIM: u16 = 1 << 5;
/// `NBD_CMD_WRITE_ZEROES` is supported.
pub const TFLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
/// Flush and FUA on one connection cover writes made on every connection.
pub const TFLAG_CAN_MULTI_CONN: u16 = 1 << 8;

// Options.
/// Choose an export and enter transmission (no error reply possible).
pub const OPT_EXPORT_NAME: u32 = 1;
/// End the negotiation.
pub const OPT_ABORT: u32 = 2;
/// List the exports.
pub const OPT_LIST: u32 = 3;
/// Upgrade to TLS (answered when the server has TLS configured).
pub const OPT_STARTTLS: u32 = 5;
/// Describe one export and stay in negotiation.
pub const OPT_INFO: u32 = 6;
/// Describe one export and enter transmission.
pub const OPT_GO: u32 = 7;
/// Ask for structured replies (not supported).
pub const OPT_STRUCTURED_REPLY: u32 = 8;

// Option reply types.
/// The option succeeded (or a list ended).
pub const REP_ACK: u32 = 1;
/// One export in an `NBD_OPT_LIST` answer.
pub const REP_SERVER: u32 = 2;
/// One piece of information in an `NBD_OPT_INFO`/`NBD_OPT_GO` answer.
pub const REP_INFO: u32 = 3;
/// Unknown option.
pub const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
/// The server's policy refuses the option (an export the client may not open).
pub const REP_ERR_POLICY: u32 = (1 << 31) + 2;
/// Syntactically invalid option data.
pub const REP_ERR_INVALID: u32 = (1 << 31) + 3;
/// The option needs TLS first (the server requires `NBD_OPT_STARTTLS`).
pub const REP_ERR_TLS_REQD: u32 = (1 << 31) + 5;
/// No such export.
pub const REP_ERR_UNKNOWN: u32 = (1 << 31) + 6;
/// The server is shutting down.
pub const REP_ERR_SHUTDOWN: u32 = (1 << 31) + 7;

// Information types of `NBD_REP_INFO`.
/// Size and transmission flags.
pub const INFO_EXPORT: u16 = 0;
/// The export's canonical name.
pub const INFO_NAME: u16 = 1;
/// Minimum, preferred and maximum block sizes.
pub const INFO_BLOCK_SIZE: u16 = 3;

// Commands.
/// Read `length` bytes at `offset`.
pub const CMD_READ: u16 = 0;
/// Write the `length` bytes following the request at `offset`.
pub const CMD_WRITE: u16 = 1;
/// Soft disconnect; no reply.
pub const CMD_DISC: u16 = 2;
/// Make every acknowledged write durable.
pub const CMD_FLUSH: u16 = 3;
/// Discard a range.
pub const CMD_TRIM: u16 = 4;
/// Write zeroes over a range.
pub const CMD_WRITE_ZEROES: u16 = 6;

// Command flags.
/// Reply only when the data is durable.
pub const CMD_FLAG_FUA: u16 = 1 << 0;
/// `NBD_CMD_WRITE_ZEROES` must allocate (we always do, so it is accepted).
pub const CMD_FLAG_NO_HOLE: u16 = 1 << 1;

// Error values of a reply.
/// Operation not permitted (read-only or refused export).
pub const EPERM: u32 = 1;
/// Input/output error.
pub const EIO: u32 = 5;
/// Invalid argument (bad flags, unknown command, read out of range, too long).
pub const EINVAL: u32 = 22;
/// No space (write out of range).
pub const ENOSPC: u32 = 28;
/// The server is shutting down.
pub const ESHUTDOWN: u32 = 108;

/// Size of a request header on the wire.
pub const REQUEST_LEN: usize = 28;
/// Size of a simple reply header on the wire.
pub const REPLY_LEN: usize = 16;
/// Longest option payload accepted during negotiation; longer closes the connection.
pub const MAX_OPTION_LEN: u32 = 64 * 1024;
/// Longest string the protocol allows (export names, messages).
pub const MAX_STRING_LEN: usize = 4096;

/// A transmission request header.
///
/// ```text
/// 0      4       6      8                16               24       28
/// | magic | flags | type | cookie (handle) | offset           | length |
///    u32     u16     u16        u64               u64            u32
/// ```
/// A write request is followed by `length` bytes of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Command flags (`NBD_CMD_FLAG_*`).
    pub flags: u16,
    /// Command type (`NBD_CMD_*`).
    pub kind: u16,
    /// Opaque value echoed in the reply.
    pub cookie: u64,
    /// Byte offset in the export.
    pub offset: u64,
    /// Length in bytes.
    pub length: u32,
}

impl Request {
    /// Parses a request header; `None` when the magic is wrong (the caller then
    /// closes the connection: the stream cannot be resynchronised).
    pub fn parse(b: &[u8; REQUEST_LEN]) -> Option<Request> {
        if be_u32(&b[0..4]) != REQUEST_MAGIC {
            return None;
        }
        Some(Request {
            flags: be_u16(&b[4..6]),
            kind: be_u16(&b[6..8]),
            cookie: be_u64(&b[8..16]),
            offset: be_u64(&b[16..24]),
            length: be_u32(&b[24..28]),
        })
    }

    /// Encodes a request header (used by tests and the benchmark's client).
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&self.flags.to_be_bytes());
        b[6..8].copy_from_slice(&self.kind.to_be_bytes());
        b[8..16].copy_from_slice(&self.cookie.to_be_bytes());
        b[16..24].copy_from_slice(&self.offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.length.to_be_bytes());
        b
    }
}

/// Writes a simple reply header into `out[..16]`.
///
/// ```text
/// 0       4       8                16
/// | magic | error | cookie (handle) |  then the data of a successful read
///    u32     u32          u64
/// ```
pub fn put_simple_reply(out: &mut [u8], error: u32, cookie: u64) {
    out[0..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    out[4..8].copy_from_slice(&error.to_be_bytes());
    out[8..16].copy_from_slice(&cookie.to_be_bytes());
}

/// A simple reply header as an array.
pub fn simple_reply(error: u32, cookie: u64) -> [u8; REPLY_LEN] {
    let mut b = [0u8; REPLY_LEN];
    put_simple_reply(&mut b, error, cookie);
    b
}

/// Appends an option reply to `out`.
///
/// ```text
/// | 0x3e889045565a9 | option | reply type | length | data |
///         u64           u32       u32        u32
/// ```
pub fn put_option_reply(out: &mut Vec<u8>, option: u32, reply: u32, data: &[u8]) {
    out.extend_from_slice(&OPT_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&reply.to_be_bytes());
    // Option data is bounded by MAX_OPTION_LEN and the names we send by the
    // export source; a longer reply would be a bug, so saturate rather than wrap.
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
}

/// Reads a big-endian `u16` from the first two bytes of `b`.
pub fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads a big-endian `u32` from the first four bytes of `b`.
pub fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads a big-endian `u64` from the first eight bytes of `b`.
pub fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// The data of an `NBD_OPT_INFO` / `NBD_OPT_GO` option.
///
/// ```text
/// | name length | name | number of requests | request ... |
///       u32       bytes          u16            u16 each
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    /// The export asked for.
    pub name: String,
    /// The `NBD_INFO_*` types the client asked for.
    pub requests: Vec<u16>,
}

impl InfoRequest {
    /// Parses the option data; `None` when the lengths are inconsistent or the
    /// name is not UTF-8 (answered with `NBD_REP_ERR_INVALID`).
    pub fn parse(data: &[u8]) -> Option<InfoRequest> {
        if data.len() < 4 {
            return None;
        }
        let name_len = be_u32(&data[0..4]) as usize;
        if name_len > MAX_STRING_LEN {
            return None;
        }
        let rest = &data[4..];
        if rest.len() < name_len + 2 {
            return None;
        }
        let name = std::str::from_utf8(&rest[..name_len]).ok()?.to_owned();
        let rest = &rest[name_len..];
        let count = be_u16(&rest[0..2]) as usize;
        let rest = &rest[2..];
        if rest.len() != count * 2 {
            return None;
        }
        let requests = rest.chunks_exact(2).map(be_u16).collect();
        Some(InfoRequest { name, requests })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_spell_their_names() {
        assert_eq!(&NBDMAGIC.to_be_bytes(), b"NBDMAGIC");
        assert_eq!(&IHAVEOPT.to_be_bytes(), b"IHAVEOPT");
    }

    #[test]
    fn request_round_trips() {
        let r = Request {
            flags: CMD_FLAG_FUA,
            kind: CMD_WRITE,
            cookie: 0x0102_0304_0506_0708,
            offset: 1 << 40,
            length: 4096,
        };
        let b = r.encode();
        assert_eq!(&b[0..4], &[0x25, 0x60, 0x95, 0x13]);
        assert_eq!(Request::parse(&b), Some(r));
        let mut bad = b;
        bad[0] ^= 1;
        assert_eq!(Request::parse(&bad), None);
    }

    #[test]
    fn simple_reply_layout() {
        let b = simple_reply(EPERM, 7);
        assert_eq!(
            b,
            [0x67, 0x44, 0x66, 0x98, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7]
        );
    }

    #[test]
    fn option_reply_layout() {
        let mut out = Vec::new();
        put_option_reply(&mut out, OPT_LIST, REP_ACK, b"");
        assert_eq!(
            out,
            [0, 3, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0]
        );
    }

    #[test]
    fn info_request_parses_and_rejects() {
        let mut d = Vec::new();
        d.extend_from_slice(&3u32.to_be_bytes());
        d.extend_from_slice(b"/vx");
        d.extend_from_slice(&2u16.to_be_bytes());
        d.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        d.extend_from_slice(&INFO_NAME.to_be_bytes());
        let r = InfoRequest::parse(&d).unwrap();
        assert_eq!(r.name, "/vx");
        assert_eq!(r.requests, vec![INFO_BLOCK_SIZE, INFO_NAME]);
        // Truncated, trailing garbage, lying name length, not UTF-8.
        assert_eq!(InfoRequest::parse(&d[..d.len() - 1]), None);
        let mut long = d.clone();
        long.push(0);
        assert_eq!(InfoRequest::parse(&long), None);
        let mut lying = d.clone();
        lying[3] = 200;
        assert_eq!(InfoRequest::parse(&lying), None);
        let mut bad_utf8 = d.clone();
        bad_utf8[4] = 0xff;
        assert_eq!(InfoRequest::parse(&bad_utf8), None);
        assert_eq!(InfoRequest::parse(&[0, 0]), None);
    }
}
