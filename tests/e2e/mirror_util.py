"""Two hosts on loopback for the mirror suites (tests/e2e/mirror/): a primary
and a secondary `cimomd`, each with its own state dir, volume root, CIM and
NBD ports and a peers file naming the other, and a small TCP proxy between
the primary's mirror client and the secondary's NBD port so that a test can
cut and restore the link (`TcpProxy.cut()` / `restore()`).

Also the DS_IIMirror helpers the tests share: the instance path, enabling a
mirror over CIM, reading one property, waiting for a state, and a writer of
numbered records through the primary's NBD export."""
import socket
import struct
import threading
import time
from pathlib import Path

from pywbem import CIMInstance, CIMInstanceName, Uint32

from conftest import Cimomd, free_ports

NS = "root/cimv2"
KiB = 1 << 10
MiB = 1 << 20
CHUNK = 32 * KiB


class TcpProxy:
    """Forwards loopback TCP connections from `port` to `target_port`.
    `cut()` drops every open connection and refuses new ones (accepted and
    closed at once), `restore()` forwards again."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.up = True
        self.stopped = False
        self.conns = []
        self.lock = threading.Lock()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.stopped:
                client.close()
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.accepted += 1
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        """Drops the link: every open connection is reset, new ones refused."""
        self.up = False
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            except OSError:
                pass

    def restore(self):
        self.up = True

    def close(self):
        # shutdown() wakes the thread blocked in accept(); a bare close()
        # would leave it waiting on a file descriptor number that the next
        # socket may reuse (it would then take that socket's connections).
        self.stopped = True
        self.cut()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Host(Cimomd):
    """A cimomd on ports fixed at construction (kept across restarts, so that
    the other host's peers file stays right)."""

    def __init__(self, base: Path, ports, extra_args=()):
        self.fixed = ports
        super().__init__(base, extra_args)

    def start(self):
        import conftest
        orig = conftest.free_ports
        conftest.free_ports = lambda n: list(self.fixed)
        try:
            super().start()
        finally:
            conftest.free_ports = orig


def peers_file(path: Path, name, peer, cim_port, nbd_port):
    path.write_text(
        f'name = "{name}"\n\n[[peer]]\nname = "{peer}"\n'
        f'cim-url = "http://127.0.0.1:{cim_port}"\nnbd-address = "127.0.0.1:{nbd_port}"\n'
    )
    return path


class Pair:
    """hosta (primary) and hostb (secondary); hosta reaches hostb's NBD
    through `proxy` under the peer name "hostb", and through `proxy2` under
    "hostb2" (the same host over a second link, so that a test can cut one
    mirror's link and not another's)."""

    def __init__(self, base: Path):
        a_cim, a_nbd, b_cim, b_nbd = free_ports(4)
        self.proxy = TcpProxy(b_nbd)
        self.proxy2 = TcpProxy(b_nbd)
        (base / "a").mkdir(parents=True, exist_ok=True)
        (base / "b").mkdir(parents=True, exist_ok=True)
        pa = peers_file(base / "a" / "peers.toml", "hosta", "hostb", b_cim, self.proxy.port)
        with open(pa, "a") as f:
            f.write(
                f'\n[[peer]]\nname = "hostb2"\ncim-url = "http://127.0.0.1:{b_cim}"\n'
                f'nbd-address = "127.0.0.1:{self.proxy2.port}"\n'
            )
        pb = peers_file(base / "b" / "peers.toml", "hostb", "hosta", a_cim, a_nbd)
        self.b = Host(base / "b", (b_cim, b_nbd), ["--peers", str(pb)])
        self.a = Host(base / "a", (a_cim, a_nbd), ["--peers", str(pa)])

    def close(self):
        for h in (self.a, self.b):
            h.stop()
        self.proxy.close()
        self.proxy2.close()


def mirror_path(primary, secondary, host="hostb"):
    return CIMInstanceName(
        "DS_IIMirror",
        keybindings={"primaryVolume": primary, "secondaryHost": host, "secondaryVolume": secondary},
        namespace=NS,
    )


def enable_mirror(conn, primary, secondary, scoreboard, host="hostb", **extra):
    """CreateInstance DS_IIMirror; returns the path the server gave."""
    props = {
        "primaryVolume": primary,
        "secondaryHost": host,
        "secondaryVolume": secondary,
        "scoreboardVolume": scoreboard,
    }
    for k, v in extra.items():
        props[k] = Uint32(v) if k in ("linkTimeout", "queueWrites") and isinstance(v, int) else v
    return conn.CreateInstance(CIMInstance("DS_IIMirror", properties=props))


def volumes(a, b, prefix, size=4 * MiB):
    """Primary and scoreboard on hosta, secondary on hostb."""
    return (
        a.volume(f"{prefix}-p", size),
        b.volume(f"{prefix}-s", size),
        a.volume(f"{prefix}-sb", MiB),
    )


def prop(conn, path, name):
    return conn.GetInstance(path)[name]


def wait_state(conn, path, states, timeout=30):
    """Waits until the mirror's state is one of `states`; returns the instance."""
    if isinstance(states, str):
        states = (states,)
    deadline = time.time() + timeout
    inst = None
    while time.time() < deadline:
        inst = conn.GetInstance(path)
        if inst["state"] in states:
            return inst
        time.sleep(0.1)
    raise AssertionError(f"mirror state {inst and inst['state']} not in {states} after {timeout}s")


def call(conn, path, method, **params):
    ret, _ = conn.InvokeMethod(method, path, **params)
    return ret


def record(n, size=4 * KiB):
    """Record `n`: its number repeated, `size` bytes."""
    return struct.pack(">Q", n) * (size // 8)


def file_bytes(path, off, length):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(length)

