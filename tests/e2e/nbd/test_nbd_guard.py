"""The NBD export is as well guarded as the CIM endpoint (issue 19): the
listen rule (exit 2 without TLS or --insecure beyond loopback), NBD over TLS
with client certificates (nbdinfo and qemu-img over nbds://, plain nbd://
refused with NBD_REP_ERR_TLS_REQD, certificates from another CA refused, an
export allow-list), Unix sockets guarded by their permissions (qemu-io over
nbd+unix://, a user without permission refused), garbage during the
handshake, and DS_Volume's nbdURIs/nbdAccess. Certificates are made at test
time with openssl."""
import os
import socket
import stat
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import CIMOMD, Cimomd, free_ports
from iiset import enable

MiB = 1 << 20
OPT_LIST, OPT_STARTTLS, OPT_GO = 3, 5, 7
REP_ACK = 1
REP_ERR_POLICY = 0x80000002
REP_ERR_TLS_REQD = 0x80000005
OPT_REPLY_MAGIC = 0x3E889045565A9


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d: Path, name):
    key, cert = d / f"{name}-key.pem", d / f"{name}-cert.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, cert


def make_leaf(d: Path, name, ca, cn, ext):
    key, csr, cert = d / f"{name}-key.pem", d / f"{name}.csr", d / f"{name}-cert.pem"
    extfile = d / f"{name}.ext"
    extfile.write_text(ext)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
            "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(extfile))
    return key, cert


def client_dir(d: Path, ca_cert, leaf):
    """A certificate directory as libnbd and qemu read it."""
    d.mkdir()
    (d / "ca-cert.pem").write_bytes(Path(ca_cert).read_bytes())
    if leaf:
        (d / "client-key.pem").write_bytes(leaf[0].read_bytes())
        (d / "client-cert.pem").write_bytes(leaf[1].read_bytes())
    return d


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d, "ca")
    other = make_ca(d, "other-ca")
    server = make_leaf(d, "server", ca, "localhost",
                       "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                       "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    client_ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
    good = make_leaf(d, "client", ca, "backup-client", client_ext + "subjectAltName=DNS:backup.example\n")
    rogue = make_leaf(d, "rogue", other, "backup-client", client_ext)
    return {
        "ca": ca[1], "server": server,
        "good": client_dir(d / "good", ca[1], good),
        "rogue": client_dir(d / "rogue", ca[1], rogue),
        "anonymous": client_dir(d / "anonymous", ca[1], None),
    }


class Guarded(Cimomd):
    """A cimomd whose NBD endpoint comes from `nbd_args` (a function of the
    NBD port, called at each start)."""

    def __init__(self, base, nbd_args):
        self.nbd_args = nbd_args
        super().__init__(base)

    def start(self):
        self.port, self.nbd_port = free_ports(2)
        args = [CIMOMD, "--listen", f"127.0.0.1:{self.port}",
                "--state-dir", str(self.state_dir), "--volume-root", str(self.volume_root),
                "--log", "info", *self.nbd_args(self.nbd_port)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        from conftest import wait_for_port
        wait_for_port(self.port, self.proc)


def run(*cmd, timeout=60, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)


def master_with_set(server, name, fill=None):
    conn = server.conn()
    m = server.volume(f"{name}-m", 4 * MiB)
    if fill is not None:
        with open(m, "r+b") as f:
            f.write(fill * MiB)
    s = server.volume(f"{name}-s", 4 * MiB)
    b = server.volume(f"{name}-b", 64 * 1024)
    enable(conn, "dependent", m, s, b)
    return m


# ---------------------------------------------------------------------------
# The listen rule.

def test_public_nbd_listen_without_tls_exits_2(tmp_path):
    port, nbd = free_ports(2)
    r = run(CIMOMD, "--listen", f"127.0.0.1:{port}", "--nbd-listen", f"0.0.0.0:{nbd}",
            "--state-dir", str(tmp_path / "s"), timeout=30)
    assert r.returncode == 2, r
    assert "refusing --nbd-listen 0.0.0.0" in r.stderr
    assert "--nbd-tls require" in r.stderr and "--insecure" in r.stderr, r.stderr
    # "on" (TLS offered but not required) is not enough either.
    r = run(CIMOMD, "--listen", f"127.0.0.1:{port}", "--nbd-listen", f"0.0.0.0:{nbd}",
            "--nbd-tls", "on", "--nbd-tls-cert", "x.pem", "--nbd-tls-key", "y.pem",
            "--state-dir", str(tmp_path / "s"), timeout=30)
    assert r.returncode == 2 and "without TLS" in r.stderr, r


def outward_ip():
    """A non-loopback address of this host, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_insecure_public_listen_warns_at_start_and_per_connection(tmp_path):
    srv = Guarded(tmp_path, lambda p: ["--nbd-listen", f"0.0.0.0:{p}", "--insecure"])
    try:
        assert "without required TLS (--insecure)" in srv.log_text()
        ip = outward_ip()
        if ip is None:
            pytest.skip("no non-loopback address to connect from")
        r = run("nbdinfo", "--list", f"nbd://{ip}:{srv.nbd_port}")
        assert r.returncode == 0, r.stderr
        wait_log(srv, "connected from beyond loopback without required TLS")
        # A loopback client gets no such warning.
        before = srv.log_text().count("beyond loopback without required TLS")
        assert run("nbdinfo", "--list", f"nbd://127.0.0.1:{srv.nbd_port}").returncode == 0
        time.sleep(0.5)
        assert srv.log_text().count("beyond loopback without required TLS") == before
    finally:
        srv.stop()


# ---------------------------------------------------------------------------
# TLS with client certificates.

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, pki):
    base = tmp_path_factory.mktemp("tls")
    # The second master's export only admits an identity nobody here has.
    restricted = (base / "volumes" / "locked-m")
    srv = Guarded(base, lambda p: [
        "--nbd-listen", f"127.0.0.1:{p}", "--nbd-tls", "require",
        "--nbd-tls-cert", str(pki["server"][1]), "--nbd-tls-key", str(pki["server"][0]),
        "--nbd-tls-verify-peer", "--nbd-tls-ca", str(pki["ca"]),
        "--nbd-tls-allow", f"{restricted.resolve()}=someone-else"])
    srv.master = master_with_set(srv, "open", fill=b"\x5a")
    srv.locked = master_with_set(srv, "locked")
    assert srv.locked == str(restricted.resolve())
    yield srv
    srv.stop()


def nbds(srv, export, certdir):
    return f"nbds://127.0.0.1:{srv.nbd_port}/{export}?tls-certificates={certdir}"


def test_nbdinfo_over_tls_with_client_certificate(tls_server, pki):
    r = run("nbdinfo", "--json", nbds(tls_server, tls_server.master, pki["good"]))
    assert r.returncode == 0, r.stderr
    assert '"export-size": 4194304' in r.stdout, r.stdout
    wait_log(tls_server, "identity=backup-client,backup.example")
    wait_log(tls_server, "nbd TLS established")


def test_qemu_img_info_over_tls(tls_server, pki):
    r = run("qemu-img", "info", "--object",
            f"tls-creds-x509,id=tls0,dir={pki['good']},endpoint=client", "--image-opts",
            f"driver=nbd,server.type=inet,server.host=127.0.0.1,server.port={tls_server.nbd_port},"
            f"export={tls_server.master},tls-creds=tls0")
    assert r.returncode == 0, r.stderr
    assert "virtual size: 4 MiB" in r.stdout, r.stdout


def test_qemu_io_reads_over_tls(tls_server, pki):
    r = qemu_io_tls(tls_server, pki["good"], "read -P 0x5a 0 1M")
    assert r.returncode == 0 and "read 1048576/1048576" in r.stdout, (r.stdout, r.stderr)


def test_plain_nbd_to_require_mode_server_fails(tls_server):
    r = run("nbdinfo", f"nbd://127.0.0.1:{tls_server.nbd_port}/{tls_server.master}")
    assert r.returncode != 0
    assert "tls" in r.stderr.lower(), r.stderr
    # The exact protocol answer, from a raw client.
    with raw_client(tls_server.nbd_port) as s:
        send_option(s, OPT_LIST)
        opt, rtype, msg = read_reply(s)
        assert (opt, rtype) == (OPT_LIST, REP_ERR_TLS_REQD), (opt, hex(rtype), msg)
        name = tls_server.master.encode()
        send_option(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        assert read_reply(s)[1] == REP_ERR_TLS_REQD
    wait_log(tls_server, "TLS required first")


@pytest.mark.parametrize("who", ["rogue", "anonymous"])
def test_wrong_or_missing_client_certificate_is_refused(tls_server, pki, who):
    before = Path(tls_server.master).read_bytes()
    r = run("nbdinfo", "--size", nbds(tls_server, tls_server.master, pki[who]))
    assert r.returncode != 0, r.stdout
    wait_log(tls_server, "TLS handshake failed")
    # qemu may already refuse a certificate its CA did not sign; either way
    # nothing is written.
    r = qemu_io_tls(tls_server, pki[who], "write -P 0x11 0 64k")
    assert r.returncode != 0 or "wrote" not in r.stdout, (r.stdout, r.stderr)
    assert Path(tls_server.master).read_bytes() == before
    # Others are unaffected.
    r = run("nbdinfo", "--size", nbds(tls_server, tls_server.master, pki["good"]))
    assert r.returncode == 0 and r.stdout.strip() == str(4 * MiB), r


def test_export_allow_list_refuses_other_identities(tls_server, pki):
    r = run("nbdinfo", "--size", nbds(tls_server, tls_server.locked, pki["good"]))
    assert r.returncode != 0
    assert "not allowed" in r.stderr or "policy" in r.stderr.lower(), r.stderr
    wait_log(tls_server, "client identity not allowed")
    r = run("nbdinfo", "--list", "--json", nbds(tls_server, "", pki["good"]))
    assert r.returncode == 0, r.stderr
    assert tls_server.master in r.stdout and tls_server.locked not in r.stdout


def test_garbage_after_starttls_closes_only_that_connection(tls_server, pki):
    with raw_client(tls_server.nbd_port) as s:
        send_option(s, OPT_STARTTLS)
        assert read_reply(s)[:2] == (OPT_STARTTLS, REP_ACK)
        s.sendall(os.urandom(4096))
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
    with raw_client(tls_server.nbd_port) as s:
        s.sendall(b"IHAVEOPT" + os.urandom(64))  # bad option lengths, random
    r = run("nbdinfo", "--size", nbds(tls_server, tls_server.master, pki["good"]))
    assert r.returncode == 0, r.stderr


def test_ds_volume_reports_tls_uri(tls_server):
    inst = tls_server.conn().GetInstance(volume_path(tls_server.master))
    uris = list(inst["nbdURIs"])
    assert uris == [f"nbds://127.0.0.1:{tls_server.nbd_port}/{tls_server.master}"], uris
    assert "TLS required, client certificates verified" in inst["nbdAccess"]
    out = tls_server.iiadm("-V", tls_server.master)
    assert out.returncode == 0, out.stderr
    assert f"NBD: nbds://127.0.0.1:{tls_server.nbd_port}/{tls_server.master}" in out.stdout, out.stdout
    assert "NBD access: loopback TCP, TLS required, client certificates verified" in out.stdout
    # Shadows are exported too; bitmaps are not.
    lines = tls_server.iiadm("-V").stdout.splitlines()
    shadow, bitmap = tls_server.master[:-2] + "-s", tls_server.master[:-2] + "-b"
    at = next(i for i, line in enumerate(lines) if line.startswith(shadow + " "))
    assert lines[at + 1].startswith("  NBD: nbds://"), lines
    at = next(i for i, line in enumerate(lines) if line.startswith(bitmap + " "))
    assert lines[at + 1] == "  NBD: not exported", lines


# ---------------------------------------------------------------------------
# Unix sockets.

def test_unix_socket_reads_writes_and_keeps_out_others(tmp_path):
    sockdir = Path(tempfile.mkdtemp(prefix="iinbd"))
    sockdir.chmod(0o755)  # reachable by anyone: only the socket's mode guards
    sock = sockdir / "nbd.sock"
    srv = Guarded(tmp_path, lambda p: ["--nbd-listen", f"unix:{sock}",
                                       "--nbd-socket-mode", "0600"])
    try:
        m = master_with_set(srv, "u")
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        uri = f"nbd+unix:///{m}?socket={sock}"
        r = run("qemu-io", "-f", "raw", uri, "-c", "write -P 0xab 0 64k", "-c", "read -P 0xab 0 64k")
        assert r.returncode == 0 and "read 65536/65536" in r.stdout, (r.stdout, r.stderr)
        with open(m, "rb") as f:
            assert f.read(65536) == b"\xab" * 65536
        inst = srv.conn().GetInstance(volume_path(m))
        assert list(inst["nbdURIs"]) == [uri]
        assert inst["nbdAccess"].startswith("Unix socket (mode 0600)")
        if os.geteuid() != 0:
            pytest.skip("needs root to run a client as nobody")
        r = run("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "qemu-io", "-f", "raw", uri, "-c", "write -P 0xcd 0 64k")
        assert r.returncode != 0
        assert "Permission denied" in r.stderr, r.stderr
        with open(m, "rb") as f:
            assert f.read(65536) == b"\xab" * 65536
    finally:
        srv.stop()
        assert not sock.exists(), "the socket is removed at shutdown"
        sockdir.rmdir()


# ---------------------------------------------------------------------------
# Helpers.

def wait_log(srv, text, timeout=10):
    deadline = time.time() + timeout
    while text not in srv.log_text():
        assert time.time() < deadline, f"{text!r} not logged: {srv.log_text()[-3000:]}"
        time.sleep(0.05)


def qemu_io_tls(srv, certdir, *commands):
    opts = (f"driver=raw,file.driver=nbd,file.server.type=inet,file.server.host=127.0.0.1,"
            f"file.server.port={srv.nbd_port},file.export={srv.master},file.tls-creds=tls0")
    cmds = [x for c in commands for x in ("-c", c)]
    return run("qemu-io", "--object", f"tls-creds-x509,id=tls0,dir={certdir},endpoint=client",
               "--image-opts", opts, *cmds)


def volume_path(path):
    from pywbem import CIMInstanceName
    return CIMInstanceName("DS_Volume", keybindings={"path": path}, namespace="root/cimv2")


class raw_client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)

    def __enter__(self):
        hdr = recv_exact(self.s, 18)
        assert hdr[:16] == b"NBDMAGICIHAVEOPT"
        self.s.sendall(struct.pack(">I", 3))
        return self.s

    def __exit__(self, *exc):
        self.s.close()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        part = s.recv(n - len(buf))
        if not part:
            raise ConnectionError("closed")
        buf += part
    return buf


def send_option(s, opt, data=b""):
    s.sendall(b"IHAVEOPT" + struct.pack(">II", opt, len(data)) + data)


def read_reply(s):
    magic, opt, rtype, length = struct.unpack(">QIII", recv_exact(s, 20))
    assert magic == OPT_REPLY_MAGIC
    return opt, rtype, recv_exact(s, length)
