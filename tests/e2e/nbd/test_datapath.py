"""The NBD data path of cimomd, driven by qemu-io, nbdinfo and nbdcopy:
copy-on-write of dependent shadows, full copies of independent ones, and
refusal of I/O to exported shadows."""
import shutil
import subprocess

import pytest
from pywbem import CIMInstance, CIMInstanceName, CIMError

MiB = 1 << 20


def qemu_io(server, path, *cmds):
    args = ["qemu-io", "-f", "raw", f"{server.nbd_url}/{path}"]
    for c in cmds:
        args += ["-c", c]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def enable(conn, kind, m, s, b):
    inst = CIMInstance("DS_IISet", properties={
        "masterVolume": m, "shadowVolume": s, "bitmapVolume": b, "setType": kind})
    return conn.CreateInstance(inst)


def set_path(conn, shadow, kind):
    return CIMInstanceName("DS_IISet", keybindings={"shadowVolume": shadow, "setType": kind}, namespace="root/cimv2")


def test_tools_present():
    for tool in ("qemu-io", "nbdinfo", "nbdcopy"):
        assert shutil.which(tool), f"{tool} missing: apt-get install qemu-utils libnbd-bin"


def test_dependent_shadow_keeps_point_in_time(fresh_cimomd):
    s = fresh_cimomd
    m, sh, b = s.volume("m", 4 * MiB), s.volume("s", 4 * MiB), s.volume("b", MiB)
    conn = s.conn()
    # Data written before the set exists goes straight to the file.
    with open(m, "r+b") as f:
        f.write(b"\x11" * (4 * MiB))
    enable(conn, "dependent", m, sh, b)
    listing = subprocess.run(["nbdinfo", "--list", s.nbd_url], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert m in listing.stdout and sh in listing.stdout
    r = qemu_io(s, m, "write -P 0x22 64k 64k")
    assert r.returncode == 0 and "wrote" in r.stdout, r.stdout + r.stderr
    r = qemu_io(s, m, "read -P 0x22 64k 64k")
    assert "read" in r.stdout and "Pattern verification failed" not in r.stdout, r.stdout
    r = qemu_io(s, sh, "read -P 0x11 0 4M")
    assert "Pattern verification failed" not in r.stdout and r.returncode == 0, r.stdout + r.stderr
    inst = conn.GetInstance(set_path(conn, sh, "dependent"))
    assert inst["percentSynchronized"] < 100
    conn.InvokeMethod("updateMasterToShadow", set_path(conn, sh, "dependent"))
    r = qemu_io(s, sh, "read -P 0x22 64k 64k")
    assert "Pattern verification failed" not in r.stdout, r.stdout


def test_independent_copy_and_export_refusal(fresh_cimomd, tmp_path):
    s = fresh_cimomd
    m, sh, b = s.volume("m", 8 * MiB), s.volume("s", 8 * MiB), s.volume("b", MiB)
    with open(m, "r+b") as f:
        f.write(bytes(range(256)) * (8 * MiB // 256))
    conn = s.conn()
    enable(conn, "independent", m, sh, b)
    p = set_path(conn, sh, "independent")
    conn.InvokeMethod("waitForCompletion", p, timeoutSeconds=__import__("pywbem").Uint32(120))
    with open(m, "rb") as f1, open(sh, "rb") as f2:
        assert f1.read() == f2.read()
    out = tmp_path / "copy.raw"
    r = subprocess.run(["nbdcopy", f"{s.nbd_url}/{sh}", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == open(m, "rb").read()
    conn.InvokeMethod("exportVolume", p)
    r = qemu_io(s, sh, "write -P 0x33 0 4k")
    assert "Operation not permitted" in (r.stdout + r.stderr) or r.returncode != 0
    r = qemu_io(s, m, "write -P 0x44 0 4k")
    assert r.returncode == 0 and "wrote" in r.stdout, r.stdout + r.stderr


def test_volume_outside_root_is_access_denied(fresh_cimomd, tmp_path):
    s = fresh_cimomd
    outside = tmp_path / "outside"
    outside.write_bytes(b"\0" * MiB)
    link = s.volume_root / "escape"
    link.symlink_to(outside)
    conn = s.conn()
    for master in (str(outside), str(link), str(s.volume_root / ".." / "outside")):
        with pytest.raises(CIMError) as e:
            enable(conn, "dependent", master, s.volume("s", MiB), s.volume("b", MiB))
        assert e.value.status_code == 2  # CIM_ERR_ACCESS_DENIED
