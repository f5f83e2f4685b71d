"""Contract check of copy-on-write under concurrent host I/O (imaging.md
§4.1, §8 Concurrency): several NBD clients write the master of a dependent
set and of an independent set whose full copy runs, while another reads the
shadow; afterwards every shadow chunk still holds the point-in-time data and
the master holds the last write of each client."""
import random
import threading

from pywbem import Uint32

from iiset import call, enable, vols, wait
from nbd_client import CMD_READ, CMD_WRITE, open_export

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 32 * KiB
SIZE = 8 * MiB
CHUNKS = SIZE // CHUNK


def pattern(seed):
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(8) for _ in range(SIZE // 64)) * 64


def run_writers(server, master, shadow, pit, rounds=40):
    errors = []
    done = {}

    def writer(n):
        try:
            c = open_export(server, master)
            rnd = random.Random(n)
            # Each writer owns the chunks c ≡ n (mod 3), so the last write is known.
            mine = [c_ for c_ in range(CHUNKS) if c_ % 3 == n]
            done[n] = []
            for i in range(rounds):
                ch = rnd.choice(mine)
                off = ch * CHUNK + rnd.randrange(0, CHUNK - 4096)
                data = bytes([(n * 50 + i) % 255 + 1]) * rnd.choice((512, 4096, CHUNK - (off % CHUNK)))
                err, _ = c.cmd(CMD_WRITE, off, len(data), data)
                if err:
                    errors.append(f"writer {n}: err {err}")
                    return
                done[n].append((off, data))
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(f"writer {n}: {e!r}")

    def reader():
        try:
            c = open_export(server, shadow)
            rnd = random.Random(99)
            for _ in range(rounds):
                ch = rnd.randrange(CHUNKS)
                err, data = c.cmd(CMD_READ, ch * CHUNK, CHUNK)
                if err or data != pit[ch * CHUNK:(ch + 1) * CHUNK]:
                    errors.append(f"shadow chunk {ch} read err={err} or not the PIT")
                    return
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(f"reader: {e!r}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    expect = bytearray(pit)
    for n in sorted(done):
        for off, data in done[n]:
            expect[off:off + len(data)] = data
    return errors, bytes(expect)


def setup(server, conn, kind, **extra):
    pit = pattern(kind)
    m, s, b = vols(server, kind, SIZE)
    with open(m, "r+b") as f:
        f.write(pit)
    return m, s, enable(conn, kind, m, s, b, **extra), pit


def test_concurrent_writers_on_dependent_master(fresh_cimomd):
    srv = fresh_cimomd
    conn = srv.conn()
    m, s, p, pit = setup(srv, conn, "dependent")
    errors, expect = run_writers(srv, m, s, pit)
    assert errors == []
    assert expect != pit
    cm = open_export(srv, m)
    err, data = cm.cmd(CMD_READ, 0, SIZE)
    cm.close()
    assert err == 0 and data == expect  # every client's last write
    c = open_export(srv, s)
    err, data = c.cmd(CMD_READ, 0, SIZE)
    c.close()
    assert err == 0 and data == pit


def test_concurrent_writers_during_full_copy(fresh_cimomd):
    srv = fresh_cimomd
    conn = srv.conn()
    m, s, p, pit = setup(srv, conn, "independent")
    wait(conn, p, 60)
    with open(s, "r+b") as f:  # forget the first copy: the full copy below must redo it
        f.write(b"\0" * SIZE)
    # The throttle is set on the idle set (given at CreateInstance it races the
    # initial copy, see test_contract_throttle.py).
    assert call(conn, p, "setCopyParameters", delay=Uint32(30), units=Uint32(100)) is True
    assert call(conn, p, "copyMasterToShadow") is True
    assert conn.GetInstance(p)["state"] == "copying"
    errors, expect = run_writers(srv, m, s, pit)
    assert errors == []
    with open(m, "rb") as f:
        assert f.read() == expect
    wait(conn, p, 60)
    with open(s, "rb") as f:
        assert f.read() == pit  # the copy and the COWs together give the PIT
