"""NBD access shared by the e2e tests: a minimal raw NBD client for exact NBD
error codes or byte-level I/O (fixed newstyle, simple replies), one-shot commands,
reads and writes through it (`nbd_io`, `raw_read`, `raw_write`), and the qemu-io invocation (`qio`,
`nbd_write`, `nbd_reads`) for I/O through the tool hosts use."""
import socket
import struct
import subprocess


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


def nbd_io(server, path, ctype, off, length, data=b""):
    """One command on a fresh connection to the export `path`, which must
    succeed; returns the data read (empty for other commands)."""
    c = open_export(server, path)
    err, got = c.cmd(ctype, off, length, data)
    c.close()
    assert err == 0, (ctype, path, err)
    return got


def raw_write(server, path, off, data):
    """Writes `data` at `off` of the export `path` with the raw client."""
    nbd_io(server, path, CMD_WRITE, off, len(data), data)


def raw_read(server, path, off, length):
    """Reads `length` bytes at `off` of the export `path` with the raw client."""
    return nbd_io(server, path, CMD_READ, off, length)


def qio(server, path, *cmds, timeout=120):
    """Runs qemu-io with the commands `cmds` on the export `path`."""
    args = ["qemu-io", "-f", "raw", f"{server.nbd_url}/{path}"]
    for c in cmds:
        args += ["-c", c]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def nbd_write(server, path, pattern, off, length):
    """Writes `length` bytes of `pattern` at `off` with qemu-io, which must succeed."""
    r = qio(server, path, f"write -P {pattern:#x} {off} {length}")
    assert r.returncode == 0 and "wrote" in r.stdout and "error" not in r.stdout.lower(), r.stdout + r.stderr
    return r


def nbd_reads(server, path, pattern, off, length):
    """True when the NBD read succeeds and every byte equals `pattern`."""
    r = qio(server, path, f"read -P {pattern:#x} {off} {length}")
    return r.returncode == 0 and "read " in r.stdout and "verification failed" not in r.stdout \
        and "error" not in r.stdout.lower()
