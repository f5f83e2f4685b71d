"""Volatile bitmaps over CIM (DS_IISet.volatileBitmap, the issue's "in-memory
bitmap the user chooses knowingly"): the choice is given at CreateInstance
and shown by GetInstance; an orderly restart keeps the point in time; after
a crash a dependent set needs a reset and an idle independent one has every
chunk marked for update (imaging.md §3.6, reference volatile behaviour)."""
import signal


from iiset import call, enable, filled, wait
from nbd_client import CMD_READ, CMD_WRITE, nbd_io

KiB = 1 << 10
MiB = 1 << 20


def volatile_set(server, kind, fill, conn=None):
    """A 1 MiB master filled with `fill`, and a volatile set of `kind` on it;
    returns the master, the shadow and the set's path."""
    m = filled(server, "m", MiB, fill)
    sh = server.volume("s", MiB)
    p = enable(conn or server.conn(), kind, m, sh, server.volume("b", 64 * KiB), volatileBitmap=True)
    return m, sh, p


def test_volatile_choice_is_shown_and_defaults_to_persistent(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    _, _, p1 = volatile_set(s, "dependent", 1, conn)
    m2 = filled(s, "m2", MiB, 2)
    p2 = enable(conn, "dependent", m2, s.volume("s2", MiB), s.volume("b2", 64 * KiB))
    assert conn.GetInstance(p1)["volatileBitmap"] is True
    assert conn.GetInstance(p2)["volatileBitmap"] is False


def written_then_restarted(server, fill, byte, sig):
    """A dependent volatile set on a master of `fill`, 4 KiB of `byte` written
    to the master through NBD, then a restart by `sig`; returns the master,
    the shadow, the set's path, a new connection and the set's instance."""
    m, sh, p = volatile_set(server, "dependent", fill)
    nbd_io(server, m, CMD_WRITE, 0, 4 * KiB, bytes([byte]) * (4 * KiB))
    server.restart(sig=sig)
    conn = server.conn()
    return m, sh, p, conn, conn.GetInstance(p)


def test_orderly_restart_keeps_a_volatile_point_in_time(fresh_cimomd):
    s = fresh_cimomd
    m, sh, p, conn, inst = written_then_restarted(s, 0x31, 0x99, signal.SIGTERM)
    assert inst["status"] == "normal", dict(inst)
    assert inst["volatileBitmap"] is True
    assert nbd_io(s, sh, CMD_READ, 0, MiB) == b"\x31" * MiB
    assert nbd_io(s, m, CMD_READ, 0, 4 * KiB) == b"\x99" * (4 * KiB)


def test_crash_takes_an_unsaved_dependent_shadow_to_needs_reset(fresh_cimomd):
    s = fresh_cimomd
    m, sh, p, conn, inst = written_then_restarted(s, 0x41, 0x42, signal.SIGKILL)
    assert inst["state"] == "needs-reset" and inst["status"] == "error", dict(inst)
    # The acknowledged master write is there; reset takes a new point in time.
    assert nbd_io(s, m, CMD_READ, 0, 4 * KiB) == b"\x42" * (4 * KiB)
    assert call(conn, p, "reset") is True
    assert conn.GetInstance(p)["status"] == "normal"
    assert nbd_io(s, sh, CMD_READ, 0, 4 * KiB) == b"\x42" * (4 * KiB)


def test_crash_marks_an_idle_independent_set_for_a_full_update(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    m, sh, p = volatile_set(s, "independent", 0x51, conn)
    wait(conn, p, 30)
    assert conn.GetInstance(p)["percentSynchronized"] == 100
    nbd_io(s, m, CMD_WRITE, 0, 4 * KiB, b"\x52" * (4 * KiB))
    s.restart(sig=signal.SIGKILL)
    conn = s.conn()
    inst = conn.GetInstance(p)
    assert inst["status"] == "normal", dict(inst)
    assert inst["percentSynchronized"] == 0
    assert call(conn, p, "updateMasterToShadow") is True
    wait(conn, p, 30)
    assert conn.GetInstance(p)["percentSynchronized"] == 100
    assert nbd_io(s, sh, CMD_READ, 0, MiB) == nbd_io(s, m, CMD_READ, 0, MiB)
