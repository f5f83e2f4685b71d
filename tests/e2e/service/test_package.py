"""The Debian package (issue 18): built with scripts/package.sh (cargo-deb,
PROFILE=dev to reuse the test build), its file list and permissions checked
with dpkg-deb, installed with `dpkg -i` into a scratch root (maintainer
scripts run chrootless with DPKG_ROOT), then the unit's ExecStart line run
from that root with NOTIFY_SOCKET pointing at a test socket: READY=1 arrives
and pywbem and the packaged iiadm talk to it; iimgr.service's ExecStart line
is run the same way against that cimomd and serves its console and API. The
man pages render with `man -l` and the bash completions load."""
import contextlib
import json
import urllib.request
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import pywbem

from conftest import ROOT, free_ports

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg") is None or os.geteuid() != 0,
    reason="needs dpkg and root (useradd into the scratch root)")

EXPECTED = {
    # path: (mode, is_dir)
    "usr/bin/cimomd": 0o755,
    "usr/bin/iiadm": 0o755,
    "usr/bin/mofc": 0o755,
    "usr/bin/iimgr": 0o755,
    "etc/cimomd/cimomd.toml": 0o644,
    "lib/systemd/system/cimomd.service": 0o644,
    "etc/iimgr/console.toml": 0o644,
    "lib/systemd/system/iimgr.service": 0o644,
    "usr/share/man/man8/iimgr.8.gz": 0o644,
    "usr/share/bash-completion/completions/iimgr": 0o644,
    "usr/share/zsh/vendor-completions/_iimgr": 0o644,
    "usr/share/fish/vendor_completions.d/iimgr.fish": 0o644,
    "usr/share/cimomd/mof/DS_II.mof": 0o644,
    "usr/share/cimomd/mof/qualifiers.mof": 0o644,
    "usr/share/man/man8/cimomd.8.gz": 0o644,
    "usr/share/man/man1/iiadm.1.gz": 0o644,
    "usr/share/man/man1/mofc.1.gz": 0o644,
    "usr/share/bash-completion/completions/iiadm": 0o644,
    "usr/share/bash-completion/completions/cimomd": 0o644,
    "usr/share/bash-completion/completions/mofc": 0o644,
    "usr/share/zsh/vendor-completions/_iiadm": 0o644,
    "usr/share/fish/vendor_completions.d/iiadm.fish": 0o644,
}


@pytest.fixture(scope="module")
def deb():
    r = subprocess.run([str(ROOT / "scripts" / "package.sh")], cwd=ROOT, capture_output=True, text=True,
                       timeout=1800, env=dict(os.environ, PROFILE="dev"))
    assert r.returncode == 0, r.stdout + r.stderr
    path = Path(ROOT / r.stdout.strip().splitlines()[-1])
    assert path.suffix == ".deb" and path.exists(), r.stdout
    return path


def test_file_list_and_permissions(deb):
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    files = {}
    for line in listing.splitlines():
        perms, owner, _size, _date, _time, name = line.split(None, 5)
        files[name.removeprefix("./").rstrip("/")] = (perms, owner)
    for path, mode in EXPECTED.items():
        assert path in files, f"{path} missing from\n{listing}"
        perms, owner = files[path]
        assert owner == "0/0", (path, owner)
        assert perms[1:] == stat.filemode(mode)[1:], (path, perms)
    # Nothing world-writable, nothing setuid.
    for name, (perms, _) in files.items():
        assert perms[8] != "w" and "s" not in perms, (name, perms)
    conffiles = subprocess.run(["dpkg-deb", "-f", str(deb), "Package"], capture_output=True, text=True).stdout
    assert conffiles.strip() == "cimomd"
    ctrl = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True).stdout
    assert b"conffiles" in ctrl


@pytest.fixture(scope="module")
def installed(deb, tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"):
        (root / d).mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("")
    # What useradd --prefix needs: the account databases with root only.
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/gshadow").write_text("root:*::\n")
    r = subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
                        "--log=/dev/null", "-i", str(deb)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def test_install_creates_user_state_dir_and_conffile(installed):
    root = installed
    user = [l.split(":") for l in (root / "etc/passwd").read_text().splitlines() if l.startswith("cimomd:")]
    assert user, (root / "etc/passwd").read_text()
    uid, home, shell = int(user[0][2]), user[0][5], user[0][6]
    assert uid < 1000 and home == "/var/lib/cimomd" and shell.endswith("nologin")
    for d in ("var/lib/cimomd", "var/lib/cimomd/volumes"):
        st = (root / d).stat()
        assert st.st_uid == uid and stat.S_IMODE(st.st_mode) == 0o750, (d, st)
    status = (root / "var/lib/dpkg/status").read_text()
    assert "Status: install ok installed" in status
    conffiles = status.split("Conffiles:")[1]
    assert "/etc/cimomd/cimomd.toml" in conffiles and "/etc/iimgr/console.toml" in conffiles
    unit = (root / "lib/systemd/system/cimomd.service").read_text()
    for line in ("Type=notify", "ProtectSystem=strict", "ReadWritePaths=/var/lib/cimomd",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "User=cimomd",
                 "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in unit, line
    # iimgr: its own user (not cimomd's, which owns the volumes), no home.
    user = [l.split(":") for l in (root / "etc/passwd").read_text().splitlines() if l.startswith("iimgr:")]
    assert user and int(user[0][2]) < 1000 and user[0][6].endswith("nologin"), user
    assert not (root / user[0][5].lstrip("/")).exists()
    unit = (root / "lib/systemd/system/iimgr.service").read_text()
    for line in ("Type=exec", "User=iimgr", "After=network-online.target cimomd.service",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n",
                 "RestartPreventExitStatus=2", "ExecStart=/usr/bin/iimgr --config /etc/iimgr/console.toml"):
        assert line in unit, line
    assert "ReadWritePaths" not in unit and "Wants=cimomd" not in unit


def unit_argv(root, name):
    """The ExecStart line of a packaged unit, rooted in the scratch root."""
    unit = (root / "lib/systemd/system" / name).read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    return [str(root) + a if a.startswith(("/usr/", "/etc/")) else a for a in shlex.split(exec_start)]


@contextlib.contextmanager
def packaged_cimomd(root, tmp_path):
    """Runs cimomd.service's command until READY=1; yields its port. The
    state and volume paths of the packaged config point at the host's
    /var/lib/cimomd, so they are redirected, as are the ports (tests run side
    by side)."""
    argv = unit_argv(root, "cimomd.service")
    port, nbd_port = free_ports(2)
    state = root / "var/lib/cimomd"
    argv += ["--state-dir", str(state), "--volume-root", str(state / "volumes"),
             "--listen", f"127.0.0.1:{port}", "--nbd-listen", f"127.0.0.1:{nbd_port}"]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(60)
    log = open(tmp_path / "cimomd.log", "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify")))
    try:
        started = time.time()
        while "READY=1" not in sock.recv(4096).decode().split("\n"):
            assert time.time() - started < 60
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        sock.close()


def test_unit_exec_start_reports_ready_and_serves(installed, tmp_path):
    root = installed
    state = root / "var/lib/cimomd"
    with packaged_cimomd(root, tmp_path) as port:
        conn = pywbem.WBEMConnection(f"http://127.0.0.1:{port}", default_namespace="root/cimv2", timeout=60)
        assert conn.GetClass("DS_IISet").classname == "DS_IISet"
        vols = state / "volumes"
        for name, size in (("m", 1 << 22), ("s", 1 << 22), ("b", 1 << 20)):
            with open(vols / name, "wb") as f:
                f.truncate(size)
        iiadm = str(root / "usr/bin/iiadm")
        env = dict(os.environ, IIADM_URL=f"http://127.0.0.1:{port}")
        r = subprocess.run([iiadm, "-e", "ind", str(vols / "m"), str(vols / "s"), str(vols / "b")],
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r
        r = subprocess.run([iiadm, "-l"], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and str(vols / "s") in r.stdout, r
        # Volumes outside the volume root are refused.
        outside = tmp_path / "outside"
        outside.write_bytes(b"\0" * 65536)
        r = subprocess.run([iiadm, "-e", "ind", str(outside), str(vols / "s2"), str(vols / "b2")],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r


def test_iimgr_unit_serves_the_packaged_cimomd(installed, tmp_path):
    """iimgr.service's command with the packaged console.toml, whose [[host]]
    "local" is the packaged cimomd (only its port is moved to the test's), on
    a free loopback port: the host goes live and the console shows it."""
    root = installed
    conf = root / "etc/iimgr/console.toml"
    shipped = conf.read_text()
    assert 'url = "http://127.0.0.1:5988"' in shipped
    with packaged_cimomd(root, tmp_path) as port:
        conf.write_text(shipped.replace("http://127.0.0.1:5988", f"http://127.0.0.1:{port}"))
        mgr_port, = free_ports(1)
        argv = unit_argv(root, "iimgr.service") + ["--listen", f"127.0.0.1:{mgr_port}"]
        log = open(tmp_path / "iimgr.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{mgr_port}"
        try:
            deadline, hosts = time.time() + 60, []
            while time.time() < deadline:
                assert proc.poll() is None, (tmp_path / "iimgr.log").read_text()
                try:
                    with urllib.request.urlopen(base + "/api/v1/hosts", timeout=10) as r:
                        hosts = json.load(r)
                    if hosts and hosts[0]["reachable"]:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            assert [(h["name"], h["reachable"]) for h in hosts] == [("local", True)], hosts
            with urllib.request.urlopen(base + "/", timeout=10) as r:
                assert r.status == 200 and "text/html" in r.headers["Content-Type"]
                assert "local" in r.read().decode()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
            conf.write_text(shipped)


@pytest.mark.parametrize("page", ["usr/share/man/man8/cimomd.8.gz", "usr/share/man/man1/iiadm.1.gz",
                                  "usr/share/man/man1/mofc.1.gz", "usr/share/man/man8/iimgr.8.gz"])
def test_man_pages_render(installed, page):
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    r = subprocess.run(["man", "-l", str(installed / page)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANPAGER="cat", MANWIDTH="100"))
    assert r.returncode == 0, r.stderr
    assert "NAME" in r.stdout and "OPTIONS" in r.stdout, r.stdout
    if "iiadm" in page:
        # The classic option descriptions and the exit codes.
        assert "-P DELAY UNITS SET: set them" in r.stdout
        assert "Exit status: 0 success, 1 operation failed, 2 bad usage." in r.stdout
        assert "--ca-file" in r.stdout
    if "cimomd" in page:
        assert "--metrics-listen" in r.stdout and "--https-listen" in r.stdout
    if "iimgr" in page:
        assert "--announce-token-file" in r.stdout and "--users" in r.stdout


@pytest.mark.parametrize("name", ["iiadm", "cimomd", "mofc", "iimgr"])
def test_bash_completions_load(installed, name):
    script = installed / "usr/share/bash-completion/completions" / name
    r = subprocess.run(["bash", "-c", f'source "{script}" && complete -p {name}'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("complete ") and r.stdout.strip().endswith(name), r.stdout
