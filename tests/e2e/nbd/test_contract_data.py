"""Contract checks of the data semantics while copies run (imaging.md §4.1,
§4.2, §4.3, §1.8) and across crashes (§3.6): host writes racing a slow full
copy, master reads during a shadow→master update, sibling copy-on-write
when one set of a shared master copies back, independent updates moving
exactly the changed chunks, and point-in-time data surviving SIGKILL."""
import signal

from pywbem import CIMInstance, Uint32

from iiset import call, enable, enable_slow_copy
from nbd_client import CMD_READ, CMD_WRITE, open_export

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 32 * KiB


def filled(server, name, size, byte):
    p = server.volume(name, size)
    with open(p, "r+b") as f:
        f.write(bytes([byte]) * size)
    return p


def fast_finish(conn, p):
    """Lets a slow copy finish quickly without changing what it copies: the
    new parameters apply after the current (long) pause, so suspend and
    resume the work (§7: resume continues the paused work)."""
    assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000)) is True
    assert call(conn, p, "suspend") is True
    assert call(conn, p, "resume") is True
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(50)) is True


def write(server, path, off, data):
    c = open_export(server, path)
    err, _ = c.cmd(CMD_WRITE, off, len(data), data)
    c.close()
    assert err == 0


def read(server, path, off, length):
    c = open_export(server, path)
    err, data = c.cmd(CMD_READ, off, length)
    c.close()
    assert err == 0
    return data


def test_host_writes_during_slow_full_copy_keep_point_in_time(fresh_cimomd):
    """§4.1 step 3: a master write to a not-yet-copied chunk first copies the
    chunk; a partial shadow write keeps the rest of the chunk's PIT data; the
    copy never overwrites either later."""
    s = fresh_cimomd
    conn = s.conn()
    size = 16 * MiB
    m = filled(s, "m", size, 0x48)
    sh, b = s.volume("s", size), s.volume("b", 64 * KiB)
    p = enable_slow_copy(conn, m, sh, b)
    assert conn.GetInstance(p)["state"] == "copying"
    far = 15 * MiB
    write(s, m, far, b"\x49" * CHUNK)                  # master, uncopied chunk
    write(s, sh, far + 2 * CHUNK + 4096, b"\x50" * 4096)  # shadow, partial, uncopied chunk
    assert read(s, sh, far, CHUNK) == b"\x48" * CHUNK
    fast_finish(conn, p)
    with open(sh, "rb") as f:
        f.seek(far)
        got = f.read(3 * CHUNK)
    assert got[:CHUNK] == b"\x48" * CHUNK  # the PIT, not the later master write
    assert got[2 * CHUNK:2 * CHUNK + 4096] == b"\x48" * 4096
    assert got[2 * CHUNK + 4096:2 * CHUNK + 8192] == b"\x50" * 4096
    assert got[2 * CHUNK + 8192:] == b"\x48" * (CHUNK - 8192)
    assert read(s, m, far, CHUNK) == b"\x49" * CHUNK
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
    m = filled(s, "m", size, 0x10)
    sh, b = s.volume("s", size), s.volume("b", 64 * KiB)
    p = enable(conn, "independent", m, sh, b)
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(120)) is True
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
    assert read(s, m, last, 512) == b"\x20" * 512  # but read through from the shadow
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
    write(s, sa, 3 * CHUNK, b"\x0a" * CHUNK)
    assert call(conn, pa, "updateShadowToMaster") is True
    assert call(conn, pa, "waitForCompletion", timeoutSeconds=Uint32(60)) is True
    assert read(s, m, 3 * CHUNK, CHUNK) == b"\x0a" * CHUNK
    assert read(s, sb, 0, MiB) == b"\x01" * MiB  # B's PIT untouched
    assert call(conn, pb, "getPercentSynchronized") < 100  # and B noticed the change


def test_independent_update_copies_exactly_changed_chunks(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    m = filled(s, "m", 2 * MiB, 0x31)
    sh, b = s.volume("s", 2 * MiB), s.volume("b", 64 * KiB)
    p = enable(conn, "independent", m, sh, b)
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60)) is True
    write(s, m, 5 * CHUNK + 100, b"\x32" * 100)
    # A change behind the engine's back in another chunk: an update must
    # NOT copy it (only tracked chunks move); a full copy would.
    with open(m, "r+b") as f:
        f.seek(40 * CHUNK)
        f.write(b"\x33" * 64)
    assert call(conn, p, "updateMasterToShadow") is True
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60)) is True
    with open(sh, "rb") as f:
        data = f.read()
    assert data[5 * CHUNK + 100:5 * CHUNK + 200] == b"\x32" * 100
    assert data[40 * CHUNK:40 * CHUNK + 64] == b"\x31" * 64
    assert call(conn, p, "copyMasterToShadow") is True
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60)) is True
    with open(sh, "rb") as f1, open(m, "rb") as f2:
        assert f1.read() == f2.read()


def test_point_in_time_survives_sigkill(fresh_cimomd):
    """§3.6: bitmaps and copied-on-write data are durable before the host
    write is acknowledged; a crash keeps the dependent shadow's PIT, also for
    chunks that spilled into an overflow volume."""
    s = fresh_cimomd
    conn = s.conn()
    m = filled(s, "m", 4 * MiB, 0x6a)
    sh, b = s.volume("s", 4 * MiB), s.volume("b", 64 * KiB)
    pd = enable(conn, "dependent", m, sh, b)
    m2 = filled(s, "m2", 4 * MiB, 0x6b)
    cs, cb = s.volume("cs", 128 * KiB), s.volume("cb", 256 * KiB)
    ov = s.volume("ov", 4 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    pc = enable(conn, "dependent", m2, cs, cb)
    assert call(conn, pc, "attachIIOverflowVolume", overflowVol=ov) is True
    write(s, m, 0, b"\x7a" * MiB)
    write(s, m2, 0, b"\x7b" * MiB)  # 32 chunks into a 4-chunk shadow
    s.restart(sig=signal.SIGKILL)
    conn = s.conn()
    assert read(s, sh, 0, 4 * MiB) == b"\x6a" * (4 * MiB)
    assert read(s, m, 0, MiB) == b"\x7a" * MiB
    assert read(s, cs, 0, 4 * MiB) == b"\x6b" * (4 * MiB)
    assert read(s, m2, 0, MiB) == b"\x7b" * MiB
    assert call(conn, pd, "getPercentSynchronized") == 100 * (128 - 32) / 128
    assert conn.GetInstance(pc)["overflowVolume"] == ov


def test_exported_state_survives_restart(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    m = filled(s, "m", MiB, 0x15)
    sh, b = s.volume("s", MiB), s.volume("b", 64 * KiB)
    p = enable(conn, "independent", m, sh, b)
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60)) is True
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
    m = filled(s, "m", MiB, 0x16)
    sh, b = s.volume("s", MiB), s.volume("b", 64 * KiB)
    p = enable(conn, "dependent", m, sh, b)
    assert call(conn, p, "suspend") is True
    s.restart()
    conn = s.conn()
    assert conn.GetInstance(p)["state"] in ("suspended", "idle")
    # Whatever the state, the PIT is still protected.
    write(s, m, 0, b"\x17" * CHUNK)
    assert read(s, sh, 0, CHUNK) == b"\x16" * CHUNK
