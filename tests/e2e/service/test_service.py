"""cimomd as a service (issue 18): systemd readiness and watchdog through a
test NOTIFY_SOCKET, refusal of a bad configuration file (exit 2, file:line
and key), the first-run self-signed HTTPS certificate (pywbem and iiadm
trust it as CA, a wrong CA fails), the Prometheus endpoint scraped with
prometheus_client's parser during a copy and NBD traffic, and SIGHUP reload
of the users file without dropping an open connection or a copy."""
import hashlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import pywbem
from pywbem import Uint32

from conftest import CIMOMD, IIADM, free_ports, stop_process, wait_for_port
from iiset import enable_slow_copy
from pty_util import in_pty

MiB = 1 << 20


class Proc:
    """A cimomd started with explicit arguments and environment, its
    stderr captured in a file."""

    def __init__(self, tmp: Path, args, env=None, wait_port=None, watchdog_pid=False):
        self.log_path = tmp / f"cimomd-{len(list(tmp.glob('cimomd-*.log')))}.log"
        self.log = open(self.log_path, "wb")
        self.args = list(args)
        argv = [CIMOMD, *args]
        if watchdog_pid:
            # As systemd does: WATCHDOG_PID names the service's own process.
            argv = ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', *argv]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        if wait_port:
            wait_for_port(wait_port, self.proc)

    def text(self):
        return self.log_path.read_text(errors="replace")

    def wait_line(self, pattern, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in:\n{self.text()}")

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def base_args(tmp, port, nbd_port):
    (tmp / "volumes").mkdir(exist_ok=True)
    return ["--listen", f"127.0.0.1:{port}", "--nbd-listen", f"127.0.0.1:{nbd_port}",
            "--state-dir", str(tmp / "state"), "--volume-root", str(tmp / "volumes")]


def notify_socket(tmp):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp / "notify.sock")
    s.bind(path)
    s.settimeout(30)
    return s, path


def messages(sock, until, timeout=30):
    """Notification datagrams (as sets of KEY=VALUE lines) until one holds `until`."""
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg = sock.recv(4096).decode()
        got.append(set(msg.split("\n")))
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until} in {got}")


def test_ready_is_sent_once_listening_and_watchdog_keeps_alive(tmp_path):
    port, nbd_port = free_ports(2)
    sock, path = notify_socket(tmp_path)
    p = Proc(tmp_path, base_args(tmp_path, port, nbd_port),
             env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}, watchdog_pid=True)
    try:
        got = messages(sock, "READY=1")
        # Ready means both endpoints accept right now.
        for prt in (port, nbd_port):
            socket.create_connection(("127.0.0.1", prt), timeout=2).close()
        assert any(m.startswith("STATUS=serving") for m in got[-1]), got
        # Keepalives at half the watchdog period while healthy.
        watch = messages(sock, "WATCHDOG=1", timeout=5)
        messages(sock, "WATCHDOG=1", timeout=5)
        assert watch
        p.proc.send_signal(signal.SIGTERM)
        messages(sock, "STOPPING=1", timeout=20)
        assert p.proc.wait(timeout=20) == 0
    finally:
        p.stop()
        sock.close()


@pytest.mark.parametrize("text,line,key,cause", [
    ('log = "info"\n\nmax-conections = 3\n', 3, "max-conections", "unknown field"),
    ('# limits\nmax-connections = "many"\n', 2, "max-connections", "invalid type"),
    ('log = "info"\nlisten = "nowhere"\n', 2, "listen", "not an address"),
    ('state-dir = "{file}"\n', 1, "state-dir", "not a directory"),
    ('volume-root = ["{file}"]\n', 1, "volume-root", "not a directory"),
])
def test_bad_configuration_is_refused_naming_file_line_and_key(tmp_path, text, line, key, cause):
    plain = tmp_path / "plain-file"
    plain.write_text("not a directory\n")
    conf = tmp_path / "cimomd.toml"
    conf.write_text(text.replace("{file}", str(plain)))
    sock, path = notify_socket(tmp_path)
    sock.settimeout(0.2)
    r = subprocess.run([CIMOMD, "--config", str(conf)], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, NOTIFY_SOCKET=path))
    assert r.returncode == 2, r
    assert f"{conf}:{line}: key \"{key}\"" in r.stderr, r.stderr
    assert cause in r.stderr, r.stderr
    with pytest.raises(socket.timeout):
        sock.recv(4096)  # never READY=1
    sock.close()


def test_metrics_or_https_beyond_loopback_without_auth_need_insecure(tmp_path):
    for flag in (["--metrics-listen", "0.0.0.0:0"], ["--https-listen", "0.0.0.0:0"]):
        r = subprocess.run([CIMOMD, "--state-dir", str(tmp_path / "s"), *flag],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, r
        assert "non-loopback" in r.stderr and "--insecure" in r.stderr, r.stderr


def https_server(tmp, name):
    port, nbd_port, sport = free_ports(3)
    args = ["--listen", "off", "--https-listen", f"127.0.0.1:{sport}",
            "--nbd-listen", f"127.0.0.1:{nbd_port}", "--state-dir", str(tmp / name / "state")]
    return Proc(tmp, args, wait_port=sport), sport, tmp / name / "state" / "tls"


def test_first_run_https_self_signed_certificate(tmp_path, monkeypatch):
    # requests lets these override a session's CA file (psf/requests#3829).
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    p, sport, tls = https_server(tmp_path, "a")
    other, _, other_tls = https_server(tmp_path, "b")
    try:
        m = p.wait_line(r"made self-signed certificate (\S+) \(SHA-256 fingerprint ([0-9A-F:]+)\)")
        cert = Path(m.group(1))
        assert cert == tls / "cert.pem"
        for f in ("cert.pem", "key.pem"):
            assert (tls / f).stat().st_mode & 0o777 == 0o600
        der = ssl.PEM_cert_to_DER_cert(cert.read_text())
        assert m.group(2) == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())

        url = f"https://127.0.0.1:{sport}"
        good = pywbem.WBEMConnection(url, default_namespace="root/cimv2", ca_certs=str(cert), timeout=30)
        assert good.GetClass("DS_IISet").classname == "DS_IISet"
        wrong = pywbem.WBEMConnection(url, default_namespace="root/cimv2",
                                      ca_certs=str(other_tls / "cert.pem"), timeout=30)
        with pytest.raises(pywbem.ConnectionError):
            wrong.GetClass("DS_IISet")

        r = subprocess.run([IIADM, "--url", url, "--ca-file", str(cert), "-l"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
        r = subprocess.run([IIADM, "--url", url, "--ca-file", str(other_tls / "cert.pem"), "-l"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, r

        # A restart keeps the pair (clients that trust it keep working).
        p.stop()
        p2 = Proc(tmp_path, p.args, wait_port=sport)
        try:
            m2 = p2.wait_line(r"using self-signed certificate \S+ \(SHA-256 fingerprint ([0-9A-F:]+)\)")
            assert m2.group(1) == m.group(2)
        finally:
            p2.stop()
    finally:
        p.stop()
        other.stop()


def scrape(port):
    from prometheus_client.parser import text_string_to_metric_families
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read().decode()
    assert r.status == 200, body
    samples = {}
    # The parser reads the Prometheus text format; OpenMetrics' `# EOF` and
    # `# UNIT` lines are comments to it.
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name, **labels):
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == x for k, x in labels.items()))


def test_metrics_move_during_a_copy_and_nbd_traffic(tmp_path):
    port, nbd_port, mport = free_ports(3)
    p = Proc(tmp_path, [*base_args(tmp_path, port, nbd_port), "--metrics-listen", f"127.0.0.1:{mport}"],
             wait_port=port)
    try:
        p.wait_line(rf"metrics on http://127.0.0.1:{mport}/metrics")
        vols = tmp_path / "volumes"
        m, s, b = (str(vols / n) for n in ("m", "s", "b"))
        for path, size in ((m, 32 * MiB), (s, 32 * MiB), (b, MiB)):
            with open(path, "wb") as f:
                f.truncate(size)
        conn = pywbem.WBEMConnection(f"http://127.0.0.1:{port}", default_namespace="root/cimv2", timeout=60)
        # 100 chunks (3.2 MiB) every 500 ms: about 5 s for 32 MiB.
        setp = enable_slow_copy(conn, m, s, b, delay=50, units=100)
        first = scrape(mport)
        time.sleep(1.5)
        qemu = subprocess.run(["qemu-io", "-f", "raw", f"nbd://127.0.0.1:{nbd_port}/{m}",
                               "-c", "write -P 0x5a 28M 1M", "-c", "read -P 0x5a 28M 1M"],
                              capture_output=True, text=True, timeout=60)
        assert qemu.returncode == 0, qemu
        second = scrape(mport)

        assert value(second, "cimomd_cim_requests_total", operation="CreateInstance", status="OK") >= 1
        assert total(second, "cimomd_cim_request_duration_seconds_count") > 0
        set_labels = {"set": s}
        assert value(second, "cimomd_set_state", set=s, state="copying") == 1
        left1 = value(first, "cimomd_set_copy_remaining_bytes", **set_labels)
        left2 = value(second, "cimomd_set_copy_remaining_bytes", **set_labels)
        assert 0 < left2 < left1, (left1, left2)
        assert value(second, "cimomd_set_copy_bytes_per_second", **set_labels) > 0
        ratio = value(second, "cimomd_set_synchronized_ratio", **set_labels)
        assert 0 < ratio < 1, ratio
        assert value(second, "cimomd_nbd_connections_opened_total", export=m) >= 1
        assert value(second, "cimomd_nbd_writes_total", export=m) >= 1
        assert value(second, "cimomd_nbd_written_bytes_total", export=m) >= MiB
        assert value(second, "cimomd_nbd_read_bytes_total", export=m) >= MiB
        assert value(second, "cimomd_nbd_connections", export=m) == 0, "qemu-io disconnected"
        assert value(second, "cimomd_nbd_request_duration_seconds_count", export=m, op="write") >= 1
        assert total(second, "cimomd_bitmap_syncs_total") > total(first, "cimomd_bitmap_syncs_total")
        # The copy had not reached 28M yet: the host write preserved the old chunks first.
        assert total(second, "cimomd_cow_first_writes_total") > 0
        assert total(second, "cimomd_http_connections") >= 1  # pywbem's keep-alive connection
        conn.InvokeMethod("abort", setp)
        conn.DeleteInstance(setp)
    finally:
        p.stop()


def test_sighup_reloads_users_without_dropping_connections_or_copies(tmp_path):
    users = tmp_path / "users"

    def line(user, password):
        r = subprocess.run([CIMOMD, "hash-password", user], input=password + "\n",
                           capture_output=True, text=True, check=True, timeout=60)
        return r.stdout
    users.write_text(line("alice", "a-secret"))
    port, nbd_port = free_ports(2)
    p = Proc(tmp_path, [*base_args(tmp_path, port, nbd_port), "--users", str(users)], wait_port=port)
    try:
        url = f"http://127.0.0.1:{port}"
        alice = pywbem.WBEMConnection(url, ("alice", "a-secret"), default_namespace="root/cimv2", timeout=60)
        bob = pywbem.WBEMConnection(url, ("bob", "b-secret"), default_namespace="root/cimv2", timeout=60)
        assert alice.GetClass("DS_IISet")
        with pytest.raises((pywbem.AuthError, pywbem.HTTPError)):
            bob.GetClass("DS_IISet")
        vols = tmp_path / "volumes"
        m, s, b = (str(vols / n) for n in ("m", "s", "b"))
        for path, size in ((m, 16 * MiB), (s, 16 * MiB), (b, MiB)):
            with open(path, "wb") as f:
                f.truncate(size)
        setp = enable_slow_copy(alice, m, s, b, delay=50, units=100)
        time.sleep(0.5)
        # A raw keep-alive connection opened before the reload.
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)

        users.write_text(line("bob", "b-secret"))
        p.proc.send_signal(signal.SIGHUP)
        p.wait_line("cimomd: reloaded")
        assert bob.GetClass("DS_IISet")
        with pytest.raises((pywbem.AuthError, pywbem.HTTPError)):
            alice.GetClass("DS_IISet")
        # The connection opened before the reload still gets answers.
        raw.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(64).startswith(b"HTTP/1.1 ")
        raw.close()
        # The copy went on from where it was.
        inst = bob.GetInstance(setp)
        assert inst["state"] == "copying" and inst["percentCompleted"] > 0, inst
        assert bob.InvokeMethod("waitForCompletion", setp, timeoutSeconds=Uint32(60))[0] is True
        # A broken users file is refused; the previous one stays in use.
        users.write_text("broken line without a hash\n")
        p.proc.send_signal(signal.SIGHUP)
        p.wait_line("reload failed")
        assert bob.GetClass("DS_IISet")
        assert p.proc.poll() is None
    finally:
        p.stop()


def slow_set(tmp_path, conn, prefix, size=32 * MiB):
    vols = tmp_path / "volumes"
    m, s, b = (str(vols / f"{prefix}{n}") for n in ("m", "s", "b"))
    for path, sz in ((m, size), (s, size), (b, MiB)):
        with open(path, "wb") as f:
            f.truncate(sz)
    # 100 chunks (3.2 MiB) every 500 ms: about 5 s for 32 MiB.
    return enable_slow_copy(conn, m, s, b, delay=50, units=100), s


def test_iiadm_wait_progress_streams_lines_in_a_pipe_and_draws_a_bar_on_a_tty(tmp_path):
    port, nbd_port = free_ports(2)
    p = Proc(tmp_path, base_args(tmp_path, port, nbd_port), wait_port=port)
    try:
        conn = pywbem.WBEMConnection(f"http://127.0.0.1:{port}", default_namespace="root/cimv2", timeout=60)
        setp, shadow = slow_set(tmp_path, conn, "pipe")
        env = dict(os.environ, IIADM_URL=f"http://127.0.0.1:{port}")
        w = subprocess.Popen([IIADM, "-w", shadow], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        first = w.stderr.readline()
        # The first line arrives while the copy still runs, not at the end.
        assert w.poll() is None, first
        rest = w.stderr.read()
        assert w.wait(timeout=120) == 0, rest
        lines = [first.strip()] + rest.split("\n")[:-1]
        pcts = [float(re.search(r": (\d+)% complete$", l).group(1)) for l in lines]
        assert pcts == sorted(pcts) and pcts[-1] == 100 and len(pcts) <= 11, lines
        assert len({int(x // 10) for x in pcts}) == len(pcts), "one line per 10 % step"
        conn.DeleteInstance(setp)

        # On a terminal: a live bar redrawn in place.
        setp, shadow = slow_set(tmp_path, conn, "tty", size=16 * MiB)
        code, text = in_pty([IIADM, "-w", shadow], env)
        assert code == 0, text
        assert "100%" in text and "[" in text and "=" in text, text
        assert "\r" in text or "\x1b[" in text, "redrawn in place"
        assert "% complete" not in text, "no plain lines on a terminal"
        conn.DeleteInstance(setp)
    finally:
        p.stop()
