#!/usr/bin/env python3
"""cim_full_copy.py -- a full copy as a user measures it (issue 17, section 1).

A release `cimomd` on a temporary state dir and volume root; a master of
BENCH_MIB MiB (default 2048) of random, non-sparse data. Each round times

* ours: CreateInstance of an independent DS_IISet (fresh sparse shadow and
  bitmap) with the copy parameters at their fastest (copyUnits 60000,
  copyDelay 2), waitForCompletion(0), then `sync`;
* the reference: `cp` of the master to a new file on the same file system,
  then `sync`.

ROUNDS (default 3) rounds alternate the two, and the one that goes first
alternates too; medians are compared (speed ratio = cp time / our time; goal
>= 1.0x). Between rounds the set is deleted (DeleteInstance) and its files
removed, as is cp's copy. Every copy is checked byte for byte against the
master outside the timed part.

Each round prints its phases and the CPU time of the copier (cp; cimomd,
every thread) beside the wall time: on a shared machine the wall time of
either side depends on the CPU it gets.

The master is in the page cache for both (it was just written), as a user who
copies a volume in use sees it. With COLD=1 the master's pages are evicted
(posix_fadvise DONTNEED, which touches no other file on this shared machine)
before each timed copy, the same for both sides.

Env: CIMOMD (default target/release/cimomd, built when missing), BENCH_MIB,
ROUNDS, COLD, BENCH_DIR (default the temporary directory).
Usage: .venv/bin/python providers/benches/cim_full_copy.py
"""
import filecmp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
MIB = int(os.environ.get("BENCH_MIB", "2048"))
ROUNDS = max(1, int(os.environ.get("ROUNDS", "3")))
COLD = os.environ.get("COLD", "0") == "1"
GOAL = 1.0


def cimomd_binary():
    path = os.environ.get("CIMOMD")
    if path:
        return str(Path(path).resolve())
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cimomd", "--bin", "cimomd"],
                   cwd=ROOT, check=True)
    return str(ROOT / "target" / "release" / "cimomd")


# conftest reads CIMOMD when imported, so the binary is settled first.
os.environ["CIMOMD"] = cimomd_binary()
os.environ.setdefault("CIMOMD_LOG", "warn")
import conftest  # noqa: E402
from iiset import call, set_path  # noqa: E402
from pywbem import CIMInstance, Uint32  # noqa: E402


def write_random(path, mib):
    """`mib` MiB of random bytes (nothing sparse), durably on disk: 64 MiB
    from the system's generator, each MiB of it rotated anew per 64 MiB so
    no two MiB of the volume are alike (urandom alone costs a CPU minute)."""
    pool = os.urandom(64 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            k = (i // 64 * 4099) % (1 << 20)
            mb = pool[(i % 64) << 20:((i % 64) + 1) << 20]
            f.write(mb[k:] + mb[:k])
        f.flush()
        os.fsync(f.fileno())


def evict(path):
    """Drops `path`'s clean pages from the page cache (after a sync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def sync():
    subprocess.run(["sync"], check=True)


def children_cpu():
    """CPU seconds (user + system) of every child process that has ended."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_cpu(pid):
    """CPU seconds (user + system, all threads) of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_cp(master, vols):
    target = vols / "cp-copy"
    if COLD:
        evict(master)
    c0 = children_cpu()
    t0 = time.monotonic()
    subprocess.run(["cp", str(master), str(target)], check=True)
    t1 = time.monotonic()
    c1 = children_cpu()
    sync()
    t2 = time.monotonic()
    same = filecmp.cmp(master, target, shallow=False)
    target.unlink()
    if not same:
        sys.exit("cim_full_copy: cp's copy differs from the master")
    return t2 - t0, {"cp": t1 - t0, "sync": t2 - t1}, c1 - c0


def run_ours(server, conn, master, vols, n):
    shadow, bitmap = vols / f"shadow{n}", vols / f"bitmap{n}"
    with open(shadow, "wb") as f:
        f.truncate(MIB << 20)
    with open(bitmap, "wb") as f:
        f.truncate(1 << 20)
    sync()
    if COLD:
        evict(master)
    props = {"masterVolume": str(master), "shadowVolume": str(shadow), "bitmapVolume": str(bitmap),
             "setType": "independent", "copyUnits": Uint32(60000), "copyDelay": Uint32(2)}
    c0 = process_cpu(server.proc.pid)
    t0 = time.monotonic()
    conn.CreateInstance(CIMInstance("DS_IISet", properties=props))
    t1 = time.monotonic()
    path = set_path(str(shadow), "independent")
    if call(conn, path, "waitForCompletion", timeoutSeconds=Uint32(0)) is not True:
        sys.exit("cim_full_copy: waitForCompletion did not answer true")
    t2 = time.monotonic()
    c2 = process_cpu(server.proc.pid)
    sync()
    t3 = time.monotonic()
    inst = conn.GetInstance(path)
    conn.DeleteInstance(path)
    same = filecmp.cmp(master, shadow, shallow=False)
    shadow.unlink()
    bitmap.unlink()
    if inst["percentSynchronized"] != 100 or not same:
        sys.exit(f"cim_full_copy: the shadow is not the master's copy "
                 f"(percentSynchronized {inst['percentSynchronized']}, same bytes {same})")
    return t3 - t0, {"create": t1 - t0, "wait": t2 - t1, "sync": t3 - t2}, c2 - c0


def fmt_phases(ph):
    return " + ".join(f"{k} {v:.2f}" for k, v in ph.items())


def main():
    base = Path(tempfile.mkdtemp(prefix="cim_full_copy.", dir=os.environ.get("BENCH_DIR")))
    server = None
    try:
        server = conftest.Cimomd(base)
        vols = server.volume_root.resolve()
        master = vols / "master"
        t = time.monotonic()
        write_random(master, MIB)
        print(f"cim_full_copy: master {MIB} MiB of random data written in {time.monotonic() - t:.1f} s; "
              f"{ROUNDS} rounds, {'cold' if COLD else 'warm'} master, {vols}")
        print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        conn = server.conn()
        conn.timeout = 3600
        ours, theirs = [], []
        for n in range(ROUNDS):
            order = ("cp", "ours") if n % 2 == 0 else ("ours", "cp")
            for who in order:
                if who == "cp":
                    secs, ph, cpu = run_cp(master, vols)
                    theirs.append(secs)
                else:
                    secs, ph, cpu = run_ours(server, conn, master, vols, n)
                    ours.append(secs)
                mbs = MIB / secs
                print(f"  round {n + 1} {who:<4} {secs:6.2f} s {mbs:6.0f} MiB/s  ({fmt_phases(ph)}; "
                      f"CPU {cpu:.2f} s, load {os.getloadavg()[0]:.1f})", flush=True)
        print(f"load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    finally:
        if server:
            server.stop()
        subprocess.run(["rm", "-rf", str(base)], check=False)
    o, r = statistics.median(ours), statistics.median(theirs)
    ratio = r / o
    print()
    print(f"{'cim_full_copy (median of rounds)':<48} {'ours':>12} {'reference':>16} {'ratio':>7} {'goal':>6} {'met':>4}")
    print(f"{f'full copy {MIB} MiB via CIM until synced':<48} {MIB / o:>6.0f} MiB/s {MIB / r:>6.0f} MiB/s cp+sync"
          f" {ratio:>6.2f}x {GOAL:>5.1f}x {'yes' if ratio >= GOAL else 'NO':>4}")
    print(f"{'  all rounds (s)':<48} {'/'.join(f'{x:.2f}' for x in ours):>12} "
          f"{'/'.join(f'{x:.2f}' for x in theirs):>16}")


if __name__ == "__main__":
    main()
