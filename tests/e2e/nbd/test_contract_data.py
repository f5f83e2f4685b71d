"""Contract checks of the data semantics while copies run (imaging.md §4.1,
§4.2, §4.3, §1.8) and across crashes (§3.6): host writes racing a slow full
copy, master reads during a shadow→master update, sibling copy-on-write
when one set of a shared master copies back, independent updates moving
exactly the changed chunks, and point-in-time data surviving SIGKILL."""
import signal

from pywbem import CIMInstance, Uint32

from iiset import call, enable, enable_slow_copy, filled, vols, wait
from nbd_client import CMD_READ, CMD_WRITE, open_export, raw_read, raw_write

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 32 * KiB


def fast_finish(conn, p):
    """Lets a slow copy finish quickly without changing what it copies: the
    new parameters apply after the current (long) pause, so suspend and
    resume the work (§7: resume continues the paused work)."""
    assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000)) is True
    assert call(conn, p, "suspend") is True
    assert call(conn, p, "resume") is True
    wait(conn, p, 50)


def test_host_writes_during_slow_full_copy_keep_point_in_time(fresh_cimomd):
    """§4.1 step 3: a master write to a not-yet-copied chunk first copies the
    chunk; a partial shadow write keeps the rest of the chunk's PIT data; the
    copy never overwrites either later."""
    s = fresh_cimomd
    conn = s.conn()
    size = 16 * MiB
    m, sh, b = vols(s, "d", size, fill=0x48)
    p = enable_slow_copy(conn, m, sh, b)
    assert conn.GetInstance(p)["state"] == "copying"
    far = 15 * MiB
    raw_write(s, m, far, b"\x49" * CHUNK)                  # master, uncopied chunk
    raw_write(s, sh, far + 2 * CHUNK + 4096, b"\x50" * 4096)  # shadow, partial, uncopied chunk
    assert raw_read(s, sh, far, CHUNK) == b"\x48" * CHUNK
    fast_finish(conn, p)
    with open(sh, "rb") as f:
        f.seek(far)
        got = f.read(3 * CHUNK)
    assert got[:CHUNK] == b"\x48" * CHUNK  # the PIT, not the later master write
    assert got[2 * CHUNK:2 * CHUNK + 4096] == b"\x48" * 4096
    assert got[2 * CHUNK + 4096:2 * CHUNK + 8192] == b"\x50" * 4096
    assert got[2 * CHUNK + 8192:] == b"\x48" * (CHUNK - 8192)
    assert raw_read(s, m, far, CHUNK) == b"\x49" * CHUNK
    with open(m, "rb") as f1, open(sh, "rb") as f2:  # every other chunk copied
        assert f1.read(far) == f2.read(far)
    pct = conn.GetInstance(p)["percentSynchronized"]
    assert pct == 100 * (512 - 2) / 512  # the two written chunks differ


def test_master_reads_come_from_shadow_during_update_to_master(fresh_cimomd):
    """§4.2: while a shadow→master copy runs, master reads of chunks still to
    copy are served from the shadow."""
    s = fresh_cimomd
    conn = s.conn()
    size = 16 * MiB
    m, sh, b = vols(s, "d", size, fill=0x10)
    p = enable(conn, "independent", m, sh, b)
    wait(conn, p)
    c = open_export(s, sh)
    for i in range(0, 512, 2):  # 256 changed chunks: several bursts
        assert c.cmd(CMD_WRITE, i * CHUNK, 512, b"\x20" * 512)[0] == 0
    c.close()
    assert call(conn, p, "setCopyParameters", delay=Uint32(10000), units=Uint32(100)) is True
    assert call(conn, p, "updateShadowToMaster") is True
    assert conn.GetInstance(p)["state"] in ("updating", "copying")
    last = 510 * CHUNK
    with open(m, "rb") as f:
        f.seek(last)
        assert f.read(512) == b"\x10" * 512  # not physically copied yet
    assert raw_read(s, m, last, 512) == b"\x20" * 512  # but read through from the shadow
    fast_finish(conn, p)
    with open(m, "rb") as f1, open(sh, "rb") as f2:
        assert f1.read() == f2.read()


def test_copy_back_of_one_set_performs_sibling_copy_on_write(fresh_cimomd):
    """§1.8: a shadow→master update of set A writes the shared master; set B's
    dependent shadow must keep its own point in time."""
    s = fresh_cimomd
    conn = s.conn()
    m = filled(s, "m", MiB, 0x01)
    sa, ba = s.volume("sa", MiB), s.volume("ba", 64 * KiB)
    sb, bb = s.volume("sb", MiB), s.volume("bb", 64 * KiB)
    pa = enable(conn, "dependent", m, sa, ba)
    pb = enable(conn, "dependent", m, sb, bb)
    raw_write(s, sa, 3 * CHUNK, b"\x0a" * CHUNK)
    assert call(conn, pa, "updateShadowToMaster") is True
    wait(conn, pa, 60)
    assert raw_read(s, m, 3 * CHUNK, CHUNK) == b"\x0a" * CHUNK
    assert raw_read(s, sb, 0, MiB) == b"\x01" * MiB  # B's PIT untouched
    assert call(conn, pb, "getPercentSynchronized") < 100  # and B noticed the change


def test_independent_update_copies_exactly_changed_chunks(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    m, sh, b = vols(s, "d", 2 * MiB, fill=0x31)
    p = enable(conn, "independent", m, sh, b)
    wait(conn, p, 60)
    raw_write(s, m, 5 * CHUNK + 100, b"\x32" * 100)
    # A change behind the engine's back in another chunk: an update must
    # NOT copy it (only tracked chunks move); a full copy would.
    with open(m, "r+b") as f:
        f.seek(40 * CHUNK)
        f.write(b"\x33" * 64)
    assert call(conn, p, "updateMasterToShadow") is True
    wait(conn, p, 60)
    with open(sh, "rb") as f:
        data = f.read()
    assert data[5 * CHUNK + 100:5 * CHUNK + 200] == b"\x32" * 100
    assert data[40 * CHUNK:40 * CHUNK + 64] == b"\x31" * 64
    assert call(conn, p, "copyMasterToShadow") is True
    wait(conn, p, 60)
    with open(sh, "rb") as f1, open(m, "rb") as f2:
        assert f1.read() == f2.read()


def test_point_in_time_survives_sigkill(fresh_cimomd):
    """§3.6: bitmaps and copied-on-write data are durable before the host
    write is acknowledged; a crash keeps the dependent shadow's PIT, also for
    chunks that spilled into an overflow volume."""
    s = fresh_cimomd
    conn = s.conn()
    m, sh, b = vols(s, "d", 4 * MiB, fill=0x6a)
    pd = enable(conn, "dependent", m, sh, b)
    m2 = filled(s, "m2", 4 * MiB, 0x6b)
    cs, cb = s.volume("cs", 128 * KiB), s.volume("cb", 256 * KiB)
    ov = s.volume("ov", 4 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    pc = enable(conn, "dependent", m2, cs, cb)
    assert call(conn, pc, "attachIIOverflowVolume", overflowVol=ov) is True
    raw_write(s, m, 0, b"\x7a" * MiB)
    raw_write(s, m2, 0, b"\x7b" * MiB)  # 32 chunks into a 4-chunk shadow
    s.restart(sig=signal.SIGKILL)
    conn = s.conn()
    assert raw_read(s, sh, 0, 4 * MiB) == b"\x6a" * (4 * MiB)
    assert raw_read(s, m, 0, MiB) == b"\x7a" * MiB
    assert raw_read(s, cs, 0, 4 * MiB) == b"\x6b" * (4 * MiB)
    assert raw_read(s, m2, 0, MiB) == b"\x7b" * MiB
    assert call(conn, pd, "getPercentSynchronized") == 100 * (128 - 32) / 128
    assert conn.GetInstance(pc)["overflowVolume"] == ov


def test_exported_state_survives_restart(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    m, sh, b = vols(s, "d", MiB, fill=0x15)
    p = enable(conn, "independent", m, sh, b)
    wait(conn, p, 60)
    assert call(conn, p, "exportVolume") is True
    s.restart()
    conn = s.conn()
    assert conn.GetInstance(p)["state"] == "exported"
    c = open_export(s, sh)
    err, _ = c.cmd(CMD_READ, 0, 512)
    c.close()
    assert err == 1  # EPERM still


def test_suspended_state_survives_restart(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    m, sh, b = vols(s, "d", MiB, fill=0x16)
    p = enable(conn, "dependent", m, sh, b)
    assert call(conn, p, "suspend") is True
    s.restart()
    conn = s.conn()
    assert conn.GetInstance(p)["state"] in ("suspended", "idle")
    # Whatever the state, the PIT is still protected.
    raw_write(s, m, 0, b"\x17" * CHUNK)
    assert raw_read(s, sh, 0, CHUNK) == b"\x16" * CHUNK
