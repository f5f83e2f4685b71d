"""Contract check of the copy throttle (interface.md §7 Copy parameters):
`copyUnits` is chunks per burst and `copyDelay` the pause between bursts in
10 ms ticks. With a 100 s pause, the chunks physically copied before the
first pause are exactly one burst."""
import time

import pytest
from pywbem import Uint32

from iiset import call, enable, vols, wait

MiB = 1 << 20
CHUNK = 32 * 1024
SIZE = 16 * MiB


def copied_chunks(path):
    with open(path, "rb") as f:
        data = f.read()
    return sum(1 for c in range(SIZE // CHUNK) if data[c * CHUNK] == 1)


def stop(conn, p):
    conn.InvokeMethod("abort", p)
    conn.DeleteInstance(p)


def copy_throttled_while_idle(server, conn, prefix):
    """Enables an idle set, rewrites its master, sets the throttle (100
    chunks, then 100 s) with setCopyParameters and starts a full copy; half a
    second later returns the set's path, its shadow and the chunks copied."""
    m, s, b = vols(server, prefix, SIZE)
    p = enable(conn, "independent", m, s, b)
    wait(conn, p, 60)
    with open(m, "r+b") as f:
        f.write(b"\x01" * SIZE)
    try:
        assert call(conn, p, "setCopyParameters", delay=Uint32(10000), units=Uint32(100)) is True
        assert call(conn, p, "copyMasterToShadow") is True
        time.sleep(0.5)
        return p, s, copied_chunks(s)
    except BaseException:
        stop(conn, p)
        raise


def test_burst_is_copy_units_chunks(cimomd):
    conn = cimomd.conn()
    p, s, n = copy_throttled_while_idle(cimomd, conn, "burst")
    try:
        assert 1 <= n <= 100, n
        assert conn.GetInstance(p)["percentCompleted"] <= 100 * 100 / (SIZE // CHUNK)
    finally:
        stop(conn, p)


def test_burst_is_bounded_and_pauses(cimomd):
    """What holds today: the copy does pause after a bounded burst and the
    progress matches the physically copied chunks."""
    conn = cimomd.conn()
    p, s, n = copy_throttled_while_idle(cimomd, conn, "bound")
    try:
        assert 1 <= n <= 256, n
        time.sleep(0.3)
        assert copied_chunks(s) == n  # paused
        assert conn.GetInstance(p)["percentCompleted"] == pytest.approx(100 * n / (SIZE // CHUNK), abs=0.01)
    finally:
        stop(conn, p)


# The engine takes copyUnits/copyDelay in the enable itself (SetSpec), so the
# initial copy's first burst is already throttled.
def test_throttle_given_at_enable_applies_from_the_first_burst(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "enable", SIZE, fill=0x01)
    p = enable(conn, "independent", m, s, b, copyUnits=Uint32(100), copyDelay=Uint32(10000))
    try:
        time.sleep(0.5)
        n = copied_chunks(s)
        # Even allowing the engine's 128-chunk run granularity (see above).
        assert 1 <= n <= 128, n
    finally:
        stop(conn, p)
