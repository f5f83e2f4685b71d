"""Shared fixtures for the end-to-end tests: a real `cimomd` on free loopback
ports with a temporary state dir and volume root, and clients pointed at it.

The binaries come from the environment (`CIMOMD`, `IIADM`; `IIMGR` in
console_util.py, `MOFC` in service/test_contract_cimomd.py), defaulting to the
debug builds in `target/debug` (the test command builds them first).

The suites live in one folder per area (cimom/, schema/, sets/,
groups_overflow/, export_join/, nbd/, iiadm/, mirror/, console/, service/), without
`__init__.py`: pytest's default "prepend" import mode puts this directory on
sys.path when it loads this file, so every suite imports the shared helpers
beside it (this file, checks.py, iiset.py, nbd_client.py, pty_util.py,
console_util.py, mirror_util.py, indication_util.py) by their bare names. Test module basenames are therefore
unique across folders, and a folder gets no conftest.py of its own (a second
"conftest" module would shadow this one for `from conftest import ...`).

A shape that more than one test repeats lives in one of those helpers, so an
interface change touches one function: checks.py asserts failures (a CIM
error's code and the words its description must name; `iiadm` exit codes),
iiset.py makes volumes and sets and calls their methods, nbd_client.py does
NBD I/O (raw client, qemu-io).
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CIMOMD = os.environ.get("CIMOMD", str(ROOT / "target" / "debug" / "cimomd"))
IIADM = os.environ.get("IIADM", str(ROOT / "target" / "debug" / "iiadm"))


_HANDED_OUT = set()


def free_ports(n):
    """`n` free loopback ports, distinct from each other and from every port
    handed out before in this session: all bound at once (so the kernel cannot
    return one twice), then released for cimomd to take."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in _HANDED_OUT:
                ports.append(port)
        _HANDED_OUT.update(ports)
        return ports
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def wait_for_port(port, proc, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cimomd exited early with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"cimomd did not listen on port {port} within {timeout}s")


def stop_process(proc, sig=signal.SIGTERM, timeout=20):
    """Sends `sig` to a running process and waits; kills it after `timeout` s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Cimomd:
    """One cimomd process; `restart()` keeps the state dir and volumes."""

    def __init__(self, base: Path, extra_args=()):
        self.base = base
        self.state_dir = base / "state"
        self.volume_root = base / "volumes"
        self.volume_root.mkdir(parents=True, exist_ok=True)
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = base / "cimomd.log"
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def nbd_url(self):
        return f"nbd://127.0.0.1:{self.nbd_port}"

    def start(self):
        self.port, self.nbd_port = free_ports(2)
        args = [
            CIMOMD,
            "--listen", f"127.0.0.1:{self.port}",
            "--nbd-listen", f"127.0.0.1:{self.nbd_port}",
            "--state-dir", str(self.state_dir),
            "--volume-root", str(self.volume_root),
            "--log", os.environ.get("CIMOMD_LOG", "info"),
            *self.extra_args,
        ]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)

    def stop(self, sig=signal.SIGTERM):
        if self.proc:
            stop_process(self.proc, sig)
        self.log.close()

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        self.start()

    def peer(self, base: Path):
        """A second host on the same machine whose volume root is this one's:
        the other side of an export, import and join."""
        return Cimomd(base, extra_args=["--volume-root", str(self.volume_root)])

    def volume(self, name, size):
        """Creates (or resizes) a sparse volume file under the volume root."""
        path = self.volume_root / name
        with open(path, "ab") as f:
            f.truncate(size)
        return str(path.resolve())

    def conn(self, namespace="root/cimv2"):
        import pywbem
        return pywbem.WBEMConnection(self.url, default_namespace=namespace, timeout=60)

    def iiadm(self, *args, check=False):
        env = dict(os.environ, IIADM_URL=self.url)
        return subprocess.run([IIADM, *args], env=env, capture_output=True, text=True, check=check, timeout=120)

    def log_text(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def cimomd(tmp_path_factory):
    server = Cimomd(tmp_path_factory.mktemp("cimomd"))
    yield server
    server.stop()


@pytest.fixture
def fresh_cimomd(tmp_path):
    server = Cimomd(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def conn(cimomd):
    return cimomd.conn()
