"""Continuous copy between two cimomd on loopback, through a TCP proxy that
can cut the link: sync mode keeps every acknowledged record on the
secondary across a cut, async mode reports its backlog, an update sync
copies exactly the logged chunks, a reverse sync restores the primary, a
consistency group drops to logging together, a primary killed mid-resync
with protectTarget leaves a restorable target, and a split brain is never
resolved by guessing."""
import threading
import time

import pytest
from pywbem import CIMError, Uint32, Uint64

from checks import CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER, expect_cim_error
from mirror_util import (
    CHUNK,
    KiB,
    MiB,
    Pair,
    call,
    enable_mirror,
    file_bytes,
    record,
    volumes,
    wait_state,
)
from nbd_client import CMD_FLUSH, CMD_WRITE, EPERM, Nbd, raw_read, raw_write


@pytest.fixture
def pair(tmp_path):
    p = Pair(tmp_path)
    yield p
    p.close()


def in_step(conn, path, secs=60):
    assert call(conn, path, "waitForSync", timeoutSeconds=Uint32(secs)) is True
    inst = conn.GetInstance(path)
    assert inst["state"] == "replicating" and inst["bytesBehind"] == 0, inst.items()
    return inst


def mirrored(pair, prefix, size=4 * MiB, **extra):
    """An enabled, fully synced mirror hosta → hostb; (path, p, s, sb)."""
    p, s, sb = volumes(pair.a, pair.b, prefix, size)
    conn = pair.a.conn()
    path = enable_mirror(conn, p, s, sb, **extra)
    assert conn.GetInstance(path)["state"] in ("need-sync", "syncing", "replicating")
    call(conn, path, "fullSync")
    in_step(conn, path)
    return path, p, s, sb


def test_sync_mode_keeps_every_acknowledged_record_across_a_cut(pair):
    conn = pair.a.conn()
    path, p, s, _ = mirrored(pair, "sync", linkTimeout=2, mode="sync")
    acked = []  # (record number, time acknowledged)
    stop = threading.Event()
    errors = []

    def writer():
        c = Nbd(pair.a.nbd_port).go(p)
        n = 0
        while not stop.is_set() and n < 900:
            err, _ = c.cmd(CMD_WRITE, n * 4 * KiB, 4 * KiB, record(n))
            if err:
                errors.append((n, err))
                break
            acked.append((n, time.monotonic()))
            n += 1
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    while len(acked) < 100:
        time.sleep(0.01)
    cut_at = time.monotonic()
    pair.proxy.cut()
    wait_state(conn, path, "logging", timeout=15)
    time.sleep(0.5)
    stop.set()
    t.join(30)
    assert not errors, errors  # policy logging: writes go on after the timeout
    before = [n for n, at in acked if at < cut_at]
    assert len(before) >= 100
    for n in before:
        assert file_bytes(s, n * 4 * KiB, 4 * KiB) == record(n), f"acknowledged record {n} missing"
    inst = conn.GetInstance(path)
    assert inst["linkState"] in ("down", "connecting")
    assert inst["dirtyChunks"] > 0
    # Back: an update sync brings the secondary in step.
    pair.proxy.restore()
    call(conn, path, "updateSync")
    in_step(conn, path)
    n = len(acked) - 1
    assert file_bytes(s, n * 4 * KiB, 4 * KiB) == record(n)


def test_async_mode_reports_bytes_behind(pair):
    conn = pair.a.conn()
    path, p, s, _ = mirrored(pair, "async", mode="async", linkTimeout=30)
    assert conn.GetInstance(path)["mode"] == "async"
    pair.proxy.cut()
    c = Nbd(pair.a.nbd_port).go(p)
    for n in range(16):
        err, _ = c.cmd(CMD_WRITE, n * CHUNK, 4 * KiB, record(n))
        assert err == 0
    c.close()
    inst = conn.GetInstance(path)
    assert inst["bytesBehind"] >= 4 * KiB, inst["bytesBehind"]
    pair.proxy.restore()
    if conn.GetInstance(path)["state"] == "logging":
        call(conn, path, "updateSync")
    in_step(conn, path)
    for n in range(16):
        assert file_bytes(s, n * CHUNK, 4 * KiB) == record(n)
    # Mode switch while running, and an unknown mode refused.
    assert call(conn, path, "setMode", mode="sync") is True
    assert conn.GetInstance(path)["mode"] == "sync"
    expect_cim_error(lambda: call(conn, path, "setMode", mode="fast"),
                     CIM_ERR_INVALID_PARAMETER, "fast")
    assert conn.GetInstance(path)["mode"] == "sync"


def test_full_async_queue_with_noblock_drops_to_logging(pair):
    """A full queue never stalls writers with queueFull = noblock: the
    mirror drops to logging at once (long before the link timeout)."""
    conn = pair.a.conn()
    path, p, s, _ = mirrored(pair, "noblock", mode="async", queueWrites=4,
                             queueFull="noblock", linkTimeout=60)
    pair.proxy.cut()
    started = time.monotonic()
    c = Nbd(pair.a.nbd_port).go(p)
    for n in range(64):
        assert c.cmd(CMD_WRITE, n * CHUNK, 4 * KiB, record(n))[0] == 0
    c.close()
    inst = wait_state(conn, path, "logging", timeout=20)
    assert time.monotonic() - started < 30
    assert inst["dirtyChunks"] > 0
    pair.proxy.restore()
    call(conn, path, "updateSync")
    in_step(conn, path)
    for n in range(64):
        assert file_bytes(s, n * CHUNK, 4 * KiB) == record(n), n


def test_update_sync_copies_exactly_the_logged_chunks(pair):
    conn = pair.a.conn()
    path, p, s, _ = mirrored(pair, "update")
    assert call(conn, path, "logging") is True
    assert conn.GetInstance(path)["state"] == "logging"
    logged = [3, 7, 8, 40, 100]
    for c in logged:
        raw_write(pair.a, p, c * CHUNK, b"L" * 4096)
    assert conn.GetInstance(path)["dirtyChunks"] == len(logged)
    # A chunk changed behind the mirror's back on the secondary's file: an
    # update sync must not touch it (it copies the logged chunks only).
    with open(s, "r+b") as f:
        f.seek(50 * CHUNK)
        f.write(b"X" * 4096)
    call(conn, path, "updateSync")
    in_step(conn, path)
    for c in logged:
        assert file_bytes(s, c * CHUNK, 4096) == b"L" * 4096, c
    assert file_bytes(s, 50 * CHUNK, 4096) == b"X" * 4096
    assert conn.GetInstance(path)["dirtyChunks"] == 0


def test_reverse_sync_restores_the_primary(pair):
    conn = pair.a.conn()
    path, p, s, _ = mirrored(pair, "reverse")
    raw_write(pair.a, p, 0, b"A" * 8192)
    in_step(conn, path)
    call(conn, path, "logging")
    raw_write(pair.a, p, 0, b"B" * 8192)
    assert raw_read(pair.a, p, 0, 8192) == b"B" * 8192
    # A reverse sync is refused while NBD clients hold the primary: the
    # reader's disconnect may take the server a moment to see.
    deadline = time.time() + 10
    while True:
        try:
            assert call(conn, path, "reverseSync", full=False) is True
            break
        except CIMError as e:
            if "NBD clients" not in e.status_description or time.time() > deadline:
                raise
            time.sleep(0.1)
    wait_state(conn, path, ("replicating", "logging", "need-sync"), timeout=60)
    assert raw_read(pair.a, p, 0, 8192) == b"A" * 8192


def test_consistency_group_drops_to_logging_together(pair):
    conn = pair.a.conn()
    p1, s1, sb1 = volumes(pair.a, pair.b, "g1")
    p2, s2, sb2 = volumes(pair.a, pair.b, "g2")
    m1 = enable_mirror(conn, p1, s1, sb1, host="hostb", groupName="cg", linkTimeout=2)
    m2 = enable_mirror(conn, p2, s2, sb2, host="hostb2", groupName="cg", linkTimeout=2)
    group = conn.EnumerateInstances("DS_IIMirrorGroup")
    assert [g["groupName"] for g in group] == ["cg"] and group[0]["mirrorCount"] == 2
    members = conn.ReferenceNames(group[0].path, ResultClass="DS_IIMirrorGroupMember")
    assert len(members) == 2
    for m in (m1, m2):
        call(conn, m, "fullSync")
    for m in (m1, m2):
        in_step(conn, m)
    c1, c2 = Nbd(pair.a.nbd_port).go(p1), Nbd(pair.a.nbd_port).go(p2)
    written = 0
    for n in range(400):
        if n == 150:
            pair.proxy2.cut()  # only m2's link
        assert c1.cmd(CMD_WRITE, n * 4 * KiB, 4 * KiB, record(n))[0] == 0
        assert c2.cmd(CMD_WRITE, n * 4 * KiB, 4 * KiB, record(n))[0] == 0
        written = n
    c1.close()
    c2.close()
    for m in (m1, m2):
        wait_state(conn, m, "logging", timeout=15)

    def last(path):
        n = -1
        while n + 1 <= written and file_bytes(path, (n + 1) * 4 * KiB, 4 * KiB) == record(n + 1):
            n += 1
        return n

    l1, l2 = last(s1), last(s2)
    assert l2 >= 149, l2  # everything before the cut arrived
    assert l1 - l2 in (0, 1), (l1, l2)  # one point in time, not m1 running on
    assert l1 < written


def test_kill9_mid_resync_with_protect_target_leaves_a_restorable_target(pair):
    conn = pair.a.conn()
    size = 64 * MiB
    path, p, s, _ = mirrored(pair, "protect", size=size, protectTarget=True)
    c = Nbd(pair.a.nbd_port).go(p)
    for n in range(0, size // CHUNK, 4):
        assert c.cmd(CMD_WRITE, n * CHUNK, 4 * KiB, b"A" * 4096)[0] == 0
    c.cmd(CMD_FLUSH, 0, 0)
    c.close()
    in_step(conn, path)
    call(conn, path, "logging")
    c = Nbd(pair.a.nbd_port).go(p)
    for n in range(size // CHUNK):
        assert c.cmd(CMD_WRITE, n * CHUNK, 4 * KiB, b"B" * 4096)[0] == 0
    c.close()
    call(conn, path, "updateSync")
    target = pair.b.conn().EnumerateInstances("DS_IIMirrorTarget")[0]
    assert target["protectionShadow"], "protectTarget took no snapshot before the resync"
    pair.a.stop(sig=9)
    # The dead primary's connection goes away; the snapshot holds the
    # pre-resync secondary: restore it.
    b = pair.b.conn()
    deadline = time.time() + 20
    while b.EnumerateInstances("DS_IIMirrorTarget")[0]["connected"] and time.time() < deadline:
        time.sleep(0.1)
    sets = [x for x in b.EnumerateInstances("DS_IISet") if x["shadowVolume"] == target["protectionShadow"]]
    assert len(sets) == 1
    b.InvokeMethod("updateShadowToMaster", sets[0].path)
    b.InvokeMethod("waitForCompletion", sets[0].path, timeoutSeconds=Uint32(120))
    for n in range(0, size // CHUNK, 4):
        assert file_bytes(s, n * CHUNK, 4096) == b"A" * 4096, n


def test_reverse_roles_makes_the_secondary_primary_and_fences_the_old_one(pair):
    a, b = pair.a.conn(), pair.b.conn()
    path, p, s, _ = mirrored(pair, "rr")
    raw_write(pair.a, p, 0, b"1" * 4096)
    in_step(a, path)
    bsb = pair.b.volume("rr-bsb", MiB)
    assert call(a, path, "reverseRoles", scoreboardVolume=bsb) is True
    assert a.EnumerateInstances("DS_IIMirror") == []
    [new] = b.EnumerateInstances("DS_IIMirror")
    assert (new["primaryVolume"], new["secondaryHost"], new["secondaryVolume"]) == (s, "hosta", p)
    in_step(b, new.path)
    assert [t["volume"] for t in a.EnumerateInstances("DS_IIMirrorTarget")] == [p]
    # The old primary is fenced: a foreign writer gets EPERM.
    c = Nbd(pair.a.nbd_port).go(p)
    assert c.cmd(CMD_WRITE, 0, 512, b"x" * 512)[0] == EPERM
    c.close()
    # The new primary's writes reach the old one.
    raw_write(pair.b, s, CHUNK, b"2" * 4096)
    in_step(b, new.path)
    assert file_bytes(p, CHUNK, 4096) == b"2" * 4096
    assert file_bytes(p, 0, 4096) == b"1" * 4096


def test_split_brain_goes_to_need_sync_and_keeps_both_sides(pair):
    """Both sides changed while apart: this side logged chunk 3, the peer's
    changes (handed over by a role reversal) name chunk 9. The mirror
    refuses to guess a direction: need-sync, both sides' data kept, until
    the operator's sync."""
    conn = pair.a.conn()
    path, p, s, _ = mirrored(pair, "brain")
    call(conn, path, "logging")
    raw_write(pair.a, p, 3 * CHUNK, b"P" * 4096)
    with open(s, "r+b") as f:  # the other side's own change
        f.seek(9 * CHUNK)
        f.write(b"S" * 4096)
    assert call(conn, path, "mergePeerChanges", chunks=[Uint64(9)]) is True
    inst = wait_state(conn, path, "need-sync", timeout=10)
    assert "split brain" in inst["lastError"], inst["lastError"]
    assert inst["dirtyChunks"] >= 1
    assert file_bytes(s, 9 * CHUNK, 4096) == b"S" * 4096  # nothing discarded yet
    assert raw_read(pair.a, p, 3 * CHUNK, 4096) == b"P" * 4096
    expect_cim_error(lambda: call(conn, path, "waitForSync", timeoutSeconds=Uint32(2)),
                     CIM_ERR_FAILED, "need-sync")
    # The operator chooses: forward.
    call(conn, path, "updateSync")
    in_step(conn, path)
    assert file_bytes(s, 3 * CHUNK, 4096) == b"P" * 4096
    assert file_bytes(s, 9 * CHUNK, 4096) == raw_read(pair.a, p, 9 * CHUNK, 4096)
