"""Contract checks of the NBD data path (interface.md §5, §7; imaging.md
§1.1, §4): the export list, a raw protocol client for exact NBD error codes
(EPERM for exported shadows, EIO/EINVAL for out-of-range I/O and the bitmap),
TRIM / WRITE_ZEROES / FLUSH keeping a dependent shadow's point in time,
reads of a shadow during a slow full copy, and qemu-img / nbdcopy."""
import shutil
import struct
import subprocess
import time

import pytest
from pywbem import CIMError, Uint32

from checks import CIM_ERR_FAILED, cim_error
from iiset import call, enable, enable_slow_copy, enabled, vols
from nbd_client import (CMD_FLUSH, CMD_READ, CMD_TRIM, CMD_WRITE, CMD_WRITE_ZEROES, EINVAL, EIO, ENOSPC, EPERM,
                        FLAG_READ_ONLY, Nbd, NbdError, REP_ACK, REP_INFO, open_export, qio)

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 32 * KiB


def test_tools_present():
    for tool in ("qemu-io", "nbdinfo", "nbdcopy"):
        assert shutil.which(tool), f"{tool} missing: apt-get install qemu-utils libnbd-bin"


def test_export_list_follows_enabled_sets(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "lst")
    loose = cimomd.volume("lst-loose", MiB)
    p = enable(conn, "dependent", m, s, b)
    c = Nbd(cimomd.nbd_port)
    names = c.list()
    c.sock.close()
    assert m in names and s in names
    assert loose not in names  # only volumes of enabled sets
    out = subprocess.run(["nbdinfo", "--list", "--json", cimomd.nbd_url], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert m in out.stdout and s in out.stdout and loose not in out.stdout
    conn.DeleteInstance(p)
    c = Nbd(cimomd.nbd_port)
    names = c.list()
    assert m not in names and s not in names
    with pytest.raises(NbdError):
        c.go(s)
    c.sock.close()


def test_unknown_export_is_refused(cimomd):
    c = Nbd(cimomd.nbd_port)
    with pytest.raises(NbdError):
        c.go(str(cimomd.volume_root / "no-such-volume"))
    c.sock.close()


def test_out_of_range_and_zero_length_io(cimomd):
    """imaging §1.1: I/O beyond the volume size fails (EIO / EINVAL);
    zero-length I/O fails with EINVAL; nothing is written."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "oor", fill=0x10)
    with enabled(conn, "dependent", m, s, b) as p:
        c = open_export(cimomd, m)
        assert c.size == MiB
        err, _ = c.cmd(CMD_READ, MiB - 512, 1024)
        assert err in (EIO, EINVAL)
        err, _ = c.cmd(CMD_WRITE, MiB, 512, b"\xee" * 512)
        assert err in (EIO, EINVAL, ENOSPC)
        err, data = c.cmd(CMD_READ, MiB - 512, 512)  # still serving, last sector intact
        assert err == 0 and data == b"\x10" * 512
        c.close()
        with open(m, "rb") as f:
            assert len(f.read()) == MiB


def test_exported_shadow_answers_eperm(cimomd):
    """§5/§7: exported shadows answer reads and writes with EPERM and never
    lose data; the master stays writable."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "eperm", fill=0x21)
    with enabled(conn, "independent", m, s, b) as p:
        conn.InvokeMethod("waitForCompletion", p, timeoutSeconds=Uint32(60))
        c = open_export(cimomd, s)
        # imaging.md §8 mount check: a shadow in use by a client is not exported.
        with cim_error(CIM_ERR_FAILED, "in use by 1 NBD client"):
            conn.InvokeMethod("exportVolume", p)
        c.close()
        deadline = time.time() + 10
        while True:  # the server drops the connection's device asynchronously
            try:
                assert call(conn, p, "exportVolume") is True
                break
            except CIMError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        c = open_export(cimomd, s)  # opened after the export
        err, _ = c.cmd(CMD_WRITE, 0, 4096, b"\x99" * 4096)
        assert err == EPERM
        err, _ = c.cmd(CMD_READ, 0, 4096)
        assert err == EPERM
        err, _ = c.cmd(CMD_WRITE_ZEROES, 0, CHUNK)
        assert err == EPERM
        c.cmd(CMD_TRIM, 0, CHUNK)  # advisory: may succeed as a no-op, must not discard
        c.close()
        with open(s, "rb") as f:
            assert f.read() == b"\x21" * MiB
        cm = open_export(cimomd, m)
        err, _ = cm.cmd(CMD_WRITE, 0, 4096, b"\x22" * 4096)
        assert err == 0
        cm.close()
        assert conn.InvokeMethod("getPercentSynchronized", p)[0] < 100


def test_bitmap_volume_is_not_writable_through_nbd(cimomd):
    """imaging §1.1: I/O to the bitmap volume through the engine is refused."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "bmp")
    with enabled(conn, "dependent", m, s, b) as p:
        before = open(b, "rb").read()
        try:
            c = open_export(cimomd, b)
        except (NbdError, ConnectionError):
            return  # not exported at all: fine
        err, _ = c.cmd(CMD_WRITE, 0, 512, b"\xff" * 512)
        assert err != 0
        c.close()
        assert open(b, "rb").read() == before


def test_trim_and_write_zeroes_keep_point_in_time(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "tz", fill=0x37)
    with enabled(conn, "dependent", m, s, b) as p:
        c = open_export(cimomd, m)
        assert c.cmd(CMD_WRITE_ZEROES, 0, 2 * CHUNK)[0] == 0
        assert c.cmd(CMD_TRIM, 4 * CHUNK, CHUNK)[0] == 0
        assert c.cmd(CMD_FLUSH, 0, 0)[0] == 0
        err, data = c.cmd(CMD_READ, 0, 2 * CHUNK)
        assert err == 0 and data == b"\0" * (2 * CHUNK)
        c.close()
        sh = open_export(cimomd, s)
        err, data = sh.cmd(CMD_READ, 0, MiB)
        assert err == 0 and data == b"\x37" * MiB  # the point in time survived
        sh.close()
        # WRITE_ZEROES marked 2 chunks; TRIM is advisory (a no-op that keeps
        # the data need not mark its chunk).
        pct = conn.InvokeMethod("getPercentSynchronized", p)[0]
        with open(m, "rb") as f:
            f.seek(4 * CHUNK)
            trimmed_kept = f.read(CHUNK) == b"\x37" * CHUNK
        want = 100 * (30 if trimmed_kept else 29) / 32
        assert pct == pytest.approx(want, abs=0.01)


def test_shadow_reads_master_during_slow_full_copy(fresh_cimomd):
    """imaging §1.2: while the full copy runs, not-yet-copied shadow chunks
    read from the master."""
    s = fresh_cimomd
    conn = s.conn()
    m, sh, b = vols(s, "slow", size=16 * MiB, fill=0x48)
    p = enable_slow_copy(conn, m, sh, b)
    try:
        assert conn.GetInstance(p)["state"] == "copying"
        c = open_export(s, sh)
        err, data = c.cmd(CMD_READ, 15 * MiB, MiB)  # far beyond the first burst
        assert err == 0 and data == b"\x48" * MiB
        c.close()
        with open(sh, "rb") as f:
            f.seek(15 * MiB)
            assert f.read(MiB) == b"\0" * MiB  # really not copied yet
    finally:
        conn.InvokeMethod("abort", p)
        conn.DeleteInstance(p)


def test_qemu_img_convert_and_nbdcopy_from_shadow(cimomd, tmp_path):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "conv", size=2 * MiB, fill=0x5f)
    with enabled(conn, "dependent", m, s, b) as p:
        r = qio(cimomd, m, "write -P 0x60 0 1M", timeout=60)
        assert r.returncode == 0, r.stderr
        out = tmp_path / "pit.raw"
        r = subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "raw", f"{cimomd.nbd_url}/{s}", str(out)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == b"\x5f" * (2 * MiB)
        # Write a new image into the shadow with nbdcopy, read it back.
        img = tmp_path / "img.raw"
        img.write_bytes(bytes(range(256)) * (2 * MiB // 256))
        r = subprocess.run(["nbdcopy", str(img), f"{cimomd.nbd_url}/{s}"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        back = tmp_path / "back.raw"
        r = subprocess.run(["nbdcopy", f"{cimomd.nbd_url}/{s}", str(back)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert back.read_bytes() == img.read_bytes()
        with open(m, "rb") as f:  # the master was not touched by shadow writes
            data = f.read()
        assert data[:MiB] == b"\x60" * MiB and data[MiB:] == b"\x5f" * MiB


def test_handshake_options_and_flags(cimomd):
    """§5: fixed newstyle with NBD_OPT_INFO / GO / LIST; FLUSH, TRIM and
    WRITE_ZEROES are advertised; unknown options and commands are refused
    without dropping the connection."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "hs", fill=0x3a)
    with enabled(conn, "dependent", m, s, b) as p:
        c = Nbd(cimomd.nbd_port)
        raw = m.encode()
        c._option(6, struct.pack(">I", len(raw)) + raw + struct.pack(">H", 0))  # NBD_OPT_INFO
        info = None
        while True:
            _, rtype, data = c._reply()
            if rtype == REP_ACK:
                break
            assert not rtype & 0x80000000, hex(rtype)
            if rtype == REP_INFO and struct.unpack(">H", data[:2])[0] == 0:
                info = struct.unpack(">QH", data[2:12])
        assert info is not None and info[0] == MiB
        c._option(0x7777)  # unknown option
        _, rtype, _ = c._reply()
        assert rtype == 0x80000001  # NBD_REP_ERR_UNSUP
        c.go(m)  # still usable after INFO and the refusal
        assert c.tflags & 1  # HAS_FLAGS
        for bit, name in ((1 << 2, "SEND_FLUSH"), (1 << 5, "SEND_TRIM"), (1 << 6, "SEND_WRITE_ZEROES")):
            assert c.tflags & bit, name
        assert not c.tflags & FLAG_READ_ONLY
        err, _ = c.cmd(0x55, 0, 512)  # unknown command
        assert err == EINVAL
        err, data = c.cmd(CMD_READ, 0, 512)
        assert err == 0 and data == b"\x3a" * 512
        c.close()
