"""A minimal raw NBD client shared by the e2e tests that need exact NBD error
codes or byte-level I/O without qemu-io (fixed newstyle, simple replies), and
`vols`, which makes the master, shadow and bitmap volumes of one set."""
import socket
import struct

MiB = 1 << 20
KiB = 1 << 10

EPERM, EIO, EINVAL, ENOSPC = 1, 5, 22, 28
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_WRITE_ZEROES = 0, 1, 2, 3, 4, 6
OPT_LIST, OPT_GO = 3, 7
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
OPT_REPLY_MAGIC = 0x3E889045565A9
FLAG_READ_ONLY = 1 << 1


class NbdError(Exception):
    pass


class Nbd:
    """A minimal fixed-newstyle NBD client (simple replies only)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        hdr = self._recv(18)
        assert hdr[:8] == b"NBDMAGIC" and hdr[8:16] == b"IHAVEOPT", hdr
        hflags = struct.unpack(">H", hdr[16:18])[0]
        assert hflags & 1, "server must offer fixed newstyle"
        self.no_zeroes = bool(hflags & 2)
        self.sock.sendall(struct.pack(">I", 1 | (2 if self.no_zeroes else 0)))
        self.handle = 0
        self.size = None
        self.tflags = None

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            part = self.sock.recv(n - len(buf))
            if not part:
                raise ConnectionError("server closed the connection")
            buf += part
        return buf

    def _option(self, opt, data=b""):
        self.sock.sendall(b"IHAVEOPT" + struct.pack(">II", opt, len(data)) + data)

    def _reply(self):
        magic, opt, rtype, length = struct.unpack(">QIII", self._recv(20))
        assert magic == OPT_REPLY_MAGIC
        return opt, rtype, self._recv(length)

    def list(self):
        self._option(OPT_LIST)
        names = []
        while True:
            _, rtype, data = self._reply()
            if rtype == REP_ACK:
                return names
            if rtype & 0x80000000:
                raise NbdError(f"NBD_OPT_LIST refused: {rtype:#x}")
            assert rtype == REP_SERVER
            n = struct.unpack(">I", data[:4])[0]
            names.append(data[4:4 + n].decode())

    def go(self, name):
        raw = name.encode()
        self._option(OPT_GO, struct.pack(">I", len(raw)) + raw + struct.pack(">H", 0))
        while True:
            _, rtype, data = self._reply()
            if rtype == REP_ACK:
                assert self.size is not None
                return self
            if rtype & 0x80000000:
                raise NbdError(f"NBD_OPT_GO refused: {rtype:#x} {data!r}")
            if rtype == REP_INFO and struct.unpack(">H", data[:2])[0] == 0:
                self.size, self.tflags = struct.unpack(">QH", data[2:12])

    def cmd(self, ctype, offset, length, data=b""):
        self.handle += 1
        self.sock.sendall(struct.pack(">IHHQQI", 0x25609513, 0, ctype, self.handle, offset, length) + data)
        magic, err, handle = struct.unpack(">IIQ", self._recv(16))
        assert magic == 0x67446698 and handle == self.handle, (hex(magic), handle)
        if ctype == CMD_READ and err == 0:
            return 0, self._recv(length)
        return err, b""

    def close(self):
        try:
            self.sock.sendall(struct.pack(">IHHQQI", 0x25609513, 0, CMD_DISC, 0, 0, 0))
        finally:
            self.sock.close()


def open_export(server, name):
    return Nbd(server.nbd_port).go(name)


def vols(server, prefix, size=MiB, fill=None):
    m = server.volume(f"{prefix}-m", size)
    if fill is not None:
        with open(m, "r+b") as f:
            f.write(bytes([fill]) * size)
    return m, server.volume(f"{prefix}-s", size), server.volume(f"{prefix}-b", 64 * KiB)
