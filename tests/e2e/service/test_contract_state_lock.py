"""Contract check: one engine per state directory. A second `cimomd` on the
state dir of a running one exits at once, non-zero, naming the directory and
the cause, and leaves the first one serving; once the first has stopped, the
state dir can be used again."""
import subprocess

from conftest import CIMOMD, Cimomd, free_ports


def second_cimomd(server):
    port, nbd_port = free_ports(2)
    return subprocess.run(
        [CIMOMD, "--listen", f"127.0.0.1:{port}", "--nbd-listen", f"127.0.0.1:{nbd_port}",
         "--state-dir", str(server.state_dir), "--volume-root", str(server.volume_root)],
        capture_output=True, text=True, timeout=60)


def test_second_cimomd_on_the_same_state_dir_exits_with_a_clear_message(tmp_path):
    first = Cimomd(tmp_path)
    try:
        r = second_cimomd(first)
        assert r.returncode != 0
        engine_dir = str(first.state_dir / "engine")
        assert "another engine already uses state directory" in r.stderr, r.stderr
        assert engine_dir in r.stderr, r.stderr
        assert f"(process {first.proc.pid})" in r.stderr, r.stderr
        # The first one is unharmed.
        assert first.conn().EnumerateInstanceNames("DS_IISet") == []
    finally:
        first.stop()
    # The lock went with the first process: the state dir is usable again.
    again = Cimomd(tmp_path)
    try:
        assert again.conn().EnumerateInstanceNames("DS_IISet") == []
    finally:
        again.stop()
