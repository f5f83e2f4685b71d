"""Contract checks of `iiadm` (interface.md §6, §7; imaging.md §2): --json on
every listing and status, exit codes 0/1/2 with messages naming the set,
-s all / -r all, group forms, export/import/join across two hosts, and the
URL/credentials plumbing."""
import json
import signal
import subprocess

import pytest

from checks import fails, ok, usage
from conftest import IIADM, free_port
from iiset import ovol_path, set_path
from nbd_client import CMD_WRITE, open_export
from pty_util import in_pty

MiB = 1 << 20


def state_of(server, shadow, kind):
    return server.conn().GetInstance(set_path(shadow, kind))["state"]


@pytest.fixture
def env(fresh_cimomd):
    s = fresh_cimomd
    v = {k: s.volume(k, size) for k, size in dict(
        m=MiB, s=MiB, b=64 << 10, m2=MiB, s2=MiB, b2=64 << 10,
        m3=4 * MiB, cs=256 << 10, cb=256 << 10, ov=4 * MiB).items()}
    return s, v


def test_json_on_every_listing_and_status(env):
    s, v = env
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"], "alpha"))
    ok(s.iiadm("-e", "ind", v["m2"], v["s2"], v["b2"]))
    ok(s.iiadm("-w", v["s2"]))
    ok(s.iiadm("-O", v["ov"]))
    ok(s.iiadm("-e", "dep", v["m3"], v["cs"], v["cb"]))
    ok(s.iiadm("-A", v["ov"], v["cs"]))
    ok(s.iiadm("-C", "grp", "dep"))
    ok(s.iiadm("-M", v["s"], "grp"))

    sets = json.loads(ok(s.iiadm("--json", "-l")))
    assert isinstance(sets, list) and len(sets) == 3
    by_shadow = {x["shadow"]: x for x in sets}
    assert set(by_shadow) == {v["s"], v["s2"], v["cs"]}
    assert by_shadow[v["s"]]["master"] == v["m"] and by_shadow[v["s"]]["bitmap"] == v["b"]
    assert by_shadow[v["s"]]["name"] == "alpha"
    assert by_shadow[v["s"]]["group"] == "grp"
    assert by_shadow[v["cs"]]["overflow"] == v["ov"]
    assert by_shadow[v["s2"]]["set_type"] == "independent"

    ovs = json.loads(ok(s.iiadm("--json", "-L")))
    assert [o["path"] for o in ovs] == [v["ov"]]
    assert ovs[0]["capacity"] == 4 * MiB and ovs[0]["attached_sets"] == 1

    groups = json.loads(ok(s.iiadm("--json", "-G")))
    assert [(g["name"], g["group_type"]) for g in groups] == [("grp", "dependent")]
    assert groups[0]["members"] == [v["s"]]
    assert json.loads(ok(s.iiadm("--json", "-g", "-L"))) == groups

    one = json.loads(ok(s.iiadm("--json", "-i", v["s"])))
    assert one["shadow"] == v["s"] and one["state"] == "idle" and one["percent_synchronized"] == 100
    every = json.loads(ok(s.iiadm("--json", "-i", "all")))
    assert {x["shadow"] for x in every} == {v["s"], v["s2"], v["cs"]}
    assert json.loads(ok(s.iiadm("--json", "-i"))) == every

    q = json.loads(ok(s.iiadm("--json", "-Q", v["ov"])))
    assert q["path"] == v["ov"] and q["attached_sets"] == 1

    p = json.loads(ok(s.iiadm("--json", "-P", v["s"])))
    assert (p["copy_delay"], p["copy_units"]) == (2, 100)

    members = json.loads(ok(s.iiadm("--json", "-g", "grp", "-l")))
    assert [x["shadow"] if isinstance(x, dict) else x for x in members] == [v["s"]]


def test_classic_listings(env):
    s, v = env
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"]))
    ok(s.iiadm("-e", "ind", v["m2"], v["s2"], v["b2"]))
    lines = ok(s.iiadm("-l")).splitlines()
    assert f"dep {v['m']} {v['s']} {v['b']}" in lines
    assert f"ind {v['m2']} {v['s2']} {v['b2']}" in lines
    assert ok(s.iiadm()) == ok(s.iiadm("-l"))  # no arguments = -l
    st = ok(s.iiadm("-i", v["s"])).splitlines()
    assert st[:3] == [f"{v['m']}: (master volume)", f"{v['s']}: (shadow volume)", f"{v['b']}: (bitmap volume)"]
    assert "Dependent copy" in st
    p = ok(s.iiadm("-P", v["s"])).splitlines()
    assert p == [f"volume: {v['s']}", "copy delay: 2", "copy unit: 100"]
    ok(s.iiadm("-w", v["s2"]))
    both = ok(s.iiadm("-i", "all"))
    assert "-" * 78 in both and v["s"] in both and v["s2"] in both


def test_overflow_status_has_every_classic_line(env):
    s, v = env
    ok(s.iiadm("-O", v["ov"]))
    q = ok(s.iiadm("-Q", v["ov"]))
    for line in ("Total number of attached shadows: 0", "Number of currently attached shadows: 0",
                 "Total number of chunks:", "Number of used chunks:", "Number of unused chunks:"):
        assert line in q, q


def test_overflow_status_ever_allocated_line(env):
    s, v = env
    ok(s.iiadm("-O", v["ov"]))
    # imaging.md §2.3 -Q, in its order; 4 MiB = 128 chunks, one is the header,
    # which "ever allocated" and "used" count as the classic tool does.
    assert ok(s.iiadm("-Q", v["ov"])).splitlines() == [
        "Total number of attached shadows: 0", "Number of currently attached shadows: 0",
        "Total number of chunks: 127", "Number of chunks ever allocated: 1",
        "Number of used chunks: 1", "Number of unused chunks: 126"]


def test_overflow_total_attached_outlives_detach_and_restart(env):
    s, v = env
    m4, cs4, cb4 = s.volume("m4", 4 * MiB), s.volume("cs4", 256 << 10), s.volume("cb4", 256 << 10)

    def q_lines():
        return ok(s.iiadm("-Q", v["ov"])).splitlines()

    def attached(total, now):
        # imaging.md §2.3 -Q, in its order; no chunk in use but the header.
        return [f"Total number of attached shadows: {total}",
                f"Number of currently attached shadows: {now}",
                "Total number of chunks: 127", "Number of chunks ever allocated: 1",
                "Number of used chunks: 1", "Number of unused chunks: 126"]

    ok(s.iiadm("-O", v["ov"]))
    ok(s.iiadm("-e", "dep", v["m3"], v["cs"], v["cb"]))  # compact: 256 KiB shadow, 4 MiB master
    ok(s.iiadm("-e", "dep", m4, cs4, cb4))
    ok(s.iiadm("-A", v["ov"], v["cs"]))
    ok(s.iiadm("-A", v["ov"], cs4))
    assert q_lines() == attached(2, 2)
    ok(s.iiadm("-D", cs4))
    assert q_lines() == attached(2, 1), "a detach lowers only the current count"
    inst = s.conn().GetInstance(ovol_path(v["ov"]))
    assert (inst["totalAttachedSets"], inst["attachedSets"]) == (2, 1)
    q = json.loads(ok(s.iiadm("--json", "-Q", v["ov"])))
    assert (q["total_attached_sets"], q["attached_sets"]) == (2, 1)
    s.restart(signal.SIGKILL)  # synced at attach: a killed server keeps it
    assert q_lines() == attached(2, 1)
    ok(s.iiadm("-A", v["ov"], cs4))  # attaching again counts again
    ok(s.iiadm("-d", cs4))  # and disabling the set does not lower the total
    s.restart()
    assert q_lines() == attached(3, 1)


def test_overflow_high_water_mark_outlives_update_and_restart(env):
    s, v = env
    CH = 32 << 10

    def counts():
        q = dict(line.split(": ") for line in ok(s.iiadm("-Q", v["ov"])).splitlines())
        return int(q["Number of chunks ever allocated"]), int(q["Number of used chunks"])

    ok(s.iiadm("-O", v["ov"]))
    ok(s.iiadm("-e", "dep", v["m3"], v["cs"], v["cb"]))  # 256 KiB shadow: 8 chunks
    ok(s.iiadm("-A", v["ov"], v["cs"]))
    c = open_export(s, v["m3"])
    assert c.cmd(CMD_WRITE, 0, 12 * CH, b"\x7e" * (12 * CH))[0] == 0  # 8 fit, 4 spill
    c.close()
    assert counts() == (5, 5)
    q = json.loads(ok(s.iiadm("--json", "-Q", v["ov"])))
    assert q["high_water_bytes"] == 5 * CH and q["used_bytes"] == 5 * CH
    ok(s.iiadm("-u", "s", v["cs"]))  # a new point in time frees the overflow chunks
    ok(s.iiadm("-w", v["cs"]))
    assert counts() == (5, 1)
    s.restart(signal.SIGKILL)  # written without a sync: a killed server keeps it
    assert counts() == (5, 1)
    c = open_export(s, v["m3"])
    assert c.cmd(CMD_WRITE, 12 * CH, 14 * CH, b"\x7f" * (14 * CH))[0] == 0  # 8 + 6
    c.close()
    assert counts() == (7, 7)
    s.restart()
    assert counts() == (7, 7)


def test_usage_errors_exit_2(env):
    s, v = env
    usage(s.iiadm("-x"))                       # unknown option
    usage(s.iiadm("-l", "extra"))              # stray argument
    usage(s.iiadm("-d"))                       # missing operand
    usage(s.iiadm("-e", "sideways", v["m"], v["s"], v["b"]))
    usage(s.iiadm("-c", "q", v["s"]))          # not s|m
    usage(s.iiadm("-g", "grp", "-I", v["s"], v["b"]))  # group with -I
    usage(s.iiadm("-m", v["s"]))               # -m needs -g
    usage(s.iiadm("-P", "x", "200", v["s"]))   # not a number
    usage(s.iiadm("-d", v["s"], "-a", v["s"]))  # two actions
    usage(s.iiadm("-C", "grp", "sideways"))
    # Bad usage never reaches the server: nothing was created.
    assert ok(s.iiadm("-l")).strip() == ""


def test_operation_failures_exit_1_naming_the_set(env):
    s, v = env
    fails(s.iiadm("-e", "ind", "/etc/passwd", v["s"], v["b"]), "/etc/passwd")  # outside every root
    fails(s.iiadm("-d", v["s"]), v["s"])
    fails(s.iiadm("-i", v["s"]), v["s"])
    fails(s.iiadm("-u", "s", v["s"]), v["s"])
    fails(s.iiadm("-w", v["s"]), v["s"])
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"]))
    fails(s.iiadm("-e", "dep", v["m2"], v["s"], v["b2"]), v["s"])  # shadow already configured
    fails(s.iiadm("-E", v["s"]), v["s"])                          # export of a dependent set
    fails(s.iiadm("-J", v["s"], v["b2"]), v["s"])                 # join of a set not exported
    fails(s.iiadm("-A", v["ov"], v["s"]))                         # not compact / not initialised
    fails(s.iiadm("-D", v["s"]), v["s"])                          # no overflow attached
    fails(s.iiadm("-P", "1", "100", v["s"]), v["s"])              # out of range
    fails(s.iiadm("-P", "2", "60001", v["s"]), v["s"])
    assert ok(s.iiadm("-P", v["s"])).splitlines()[1:] == ["copy delay: 2", "copy unit: 100"]
    fails(s.iiadm("-X", "nogroup"), "nogroup")
    fails(s.iiadm("-Q", v["ov"]), v["ov"])
    fails(s.iiadm("-Z", v["ov"]), v["ov"])


def test_abort_idle_and_copy_to_master_without_prompt(env):
    s, v = env
    with open(v["m"], "r+b") as f:
        f.write(b"\x5c" * MiB)
    ok(s.iiadm("-e", "ind", v["m"], v["s"], v["b"]))
    ok(s.iiadm("-w", v["s"]))
    ok(s.iiadm("-a", v["s"]))  # nothing running: succeeds
    with open(v["s"], "r+b") as f:  # outside the engine, then a full copy back
        f.write(b"\x6d" * 4096)
    ok(s.iiadm("-c", "m", v["s"]))  # stdin is not a terminal: no prompt
    ok(s.iiadm("-w", v["s"]))
    with open(v["m"], "rb") as f:
        assert f.read(4096) == b"\x6d" * 4096


def test_suspend_and_resume_all(env):
    s, v = env
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"]))
    ok(s.iiadm("-e", "dep", v["m2"], v["s2"], v["b2"]))
    ok(s.iiadm("-s", "all"))
    assert state_of(s, v["s"], "dependent") == "suspended"
    assert state_of(s, v["s2"], "dependent") == "suspended"
    ok(s.iiadm("-r", "all"))
    assert state_of(s, v["s"], "dependent") == "idle"
    assert state_of(s, v["s2"], "dependent") == "idle"
    ok(s.iiadm("-s", v["s2"]))
    assert state_of(s, v["s"], "dependent") == "idle"
    assert state_of(s, v["s2"], "dependent") == "suspended"
    out = json.loads(ok(s.iiadm("--json", "-i", v["s2"])))
    assert out["state"] == "suspended"
    ok(s.iiadm("-r", v["s2"]))
    assert state_of(s, v["s2"], "dependent") == "idle"


def test_group_forms(env):
    s, v = env
    ok(s.iiadm("-C", "g1", "dep"))
    ok(s.iiadm("-g", "g1", "-e", "dep", v["m"], v["s"], v["b"]))  # enable into a group
    ok(s.iiadm("-e", "dep", v["m2"], v["s2"], v["b2"]))
    ok(s.iiadm("-g", "g1", "-m", v["s2"]))
    assert json.loads(ok(s.iiadm("--json", "-i", v["s"])))["group"] == "g1"
    assert sorted(ok(s.iiadm("-g", "g1", "-l")).split()) == sorted([v["s"], v["s2"]])
    ok(s.iiadm("-g", "", "-m", v["s2"]))  # remove from its group
    assert json.loads(ok(s.iiadm("--json", "-i", v["s2"])))["group"] in (None, "")
    ok(s.iiadm("-g", "g1", "-m", v["s2"]))
    ok(s.iiadm("-g", "g1", "-s"))
    assert state_of(s, v["s"], "dependent") == "suspended" and state_of(s, v["s2"], "dependent") == "suspended"
    ok(s.iiadm("-g", "g1", "-r"))
    ok(s.iiadm("-g", "g1", "-P", "5", "500"))
    assert ok(s.iiadm("-P", v["s2"])).splitlines()[1:] == ["copy delay: 5", "copy unit: 500"]
    # -X with members releases them; they stay enabled.
    ok(s.iiadm("-X", "g1"))
    assert "g1" not in ok(s.iiadm("-G"))
    assert len(json.loads(ok(s.iiadm("--json", "-l")))) == 2
    # -g GROUP -d disables every member.
    ok(s.iiadm("-C", "g2", "dep"))
    ok(s.iiadm("-M", v["s"], "g2"))
    ok(s.iiadm("-M", v["s2"], "g2"))
    ok(s.iiadm("-g", "g2", "-d"))
    assert json.loads(ok(s.iiadm("--json", "-l"))) == []
    # Type mismatch with the group is refused.
    ok(s.iiadm("-C", "gi", "ind"))
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"]))
    fails(s.iiadm("-M", v["s"], "gi"), v["s"])
    # Group names: no leading '-' and no whitespace (imaging §1.9).
    assert s.iiadm("-C", "bad name", "dep").returncode in (1, 2)
    assert "bad name" not in ok(s.iiadm("-G"))


def test_group_update_via_g(env):
    s, v = env
    with open(v["m"], "r+b") as f:
        f.write(b"\x01" * MiB)
    ok(s.iiadm("-C", "gu", "ind"))
    ok(s.iiadm("-g", "gu", "-e", "ind", v["m"], v["s"], v["b"]))
    ok(s.iiadm("-g", "gu", "-e", "ind", v["m2"], v["s2"], v["b2"]))
    ok(s.iiadm("-g", "gu", "-w"))
    with open(v["m"], "r+b") as f:  # behind the engine's back: only -c notices
        f.write(b"\x02" * MiB)
    ok(s.iiadm("-g", "gu", "-c", "s"))
    ok(s.iiadm("-g", "gu", "-w"))
    with open(v["s"], "rb") as f:
        assert f.read() == b"\x02" * MiB
    info = json.loads(ok(s.iiadm("--json", "-g", "gu", "-i")))
    assert {x["shadow"] for x in info} == {v["s"], v["s2"]}
    assert all(x["percent_completed"] == 100 for x in info)


def test_export_import_join_between_two_hosts(env, tmp_path):
    s, v = env
    with open(v["m"], "r+b") as f:
        f.write(b"\x0e" * MiB)
    ok(s.iiadm("-e", "ind", v["m"], v["s"], v["b"]))
    ok(s.iiadm("-w", v["s"]))
    ok(s.iiadm("-E", v["s"]))
    assert json.loads(ok(s.iiadm("--json", "-i", v["s"])))["state"] == "exported"
    fails(s.iiadm("-E", v["s"]), v["s"])  # already exported
    fails(s.iiadm("-u", "s", v["s"]), v["s"])  # exported: no update
    fails(s.iiadm("-I", v["s"], v["b2"]), v["s"])  # same host refuses import
    other = s.peer(tmp_path / "hostb")
    try:
        ok(other.iiadm("-I", v["s"], v["b2"]))
        imp = json.loads(ok(other.iiadm("--json", "-i", v["s"])))
        assert imp["set_type"] == "imported" and imp["state"] == "imported"
        lines = ok(other.iiadm("-l")).splitlines()
        assert any(v["s"] in line for line in lines)
        ok(other.iiadm("-d", v["s"]))
        assert json.loads(ok(other.iiadm("--json", "-l"))) == []
    finally:
        other.stop()
    ok(s.iiadm("-J", v["s"], v["b2"]))
    assert json.loads(ok(s.iiadm("--json", "-i", v["s"])))["state"] == "idle"
    ok(s.iiadm("-u", "s", v["s"]))
    ok(s.iiadm("-w", v["s"]))


def test_url_flag_env_and_unreachable_server(env):
    s, v = env
    res = subprocess.run([IIADM, "--url", s.url, "-l"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "IIADM_URL": "http://127.0.0.1:1"})
    assert res.returncode == 0, res.stderr  # --url wins over the environment
    dead = f"http://127.0.0.1:{free_port()}"
    res = subprocess.run([IIADM, "--url", dead, "-l"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr.strip()
    res = subprocess.run([IIADM, "-l"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "IIADM_URL": dead})
    assert res.returncode == 1


def test_reset_and_version(env):
    s, v = env
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"]))
    ok(s.iiadm("-R", v["s"]))  # not offline: success, nothing happens
    assert json.loads(ok(s.iiadm("--json", "-i", v["s"])))["state"] == "idle"
    out = ok(s.iiadm("-v"))
    assert out.startswith("Point in Time Copy version ")
    h = ok(s.iiadm("-h"))
    for letter in "edcuawilLADOQZEIJPsrRCMBNXGg":
        assert f"-{letter}" in h, letter


def test_ambiguous_set_name_is_never_acted_on_silently(env):
    s, v = env
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"], "dup"))
    second = s.iiadm("-e", "dep", v["m2"], v["s2"], v["b2"], "dup")
    if second.returncode != 0:
        return  # duplicate names refused at enable: fine
    res = s.iiadm("-d", "dup")
    assert res.returncode == 1 and "dup" in res.stderr
    assert len(json.loads(ok(s.iiadm("--json", "-l")))) == 2


def test_shadow_path_wins_over_another_sets_name(env):
    s, v = env
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"], v["s2"]))  # named like the other shadow
    ok(s.iiadm("-e", "dep", v["m2"], v["s2"], v["b2"]))
    ok(s.iiadm("-s", v["s2"]))
    assert state_of(s, v["s2"], "dependent") == "suspended"
    assert state_of(s, v["s"], "dependent") == "idle"


def test_empty_or_missing_group_operations_fail(env):
    s, v = env
    fails(s.iiadm("-g", "nogroup", "-u", "s"), "nogroup")
    ok(s.iiadm("-C", "empty", "dep"))
    fails(s.iiadm("-g", "empty", "-u", "s"), "empty")


def test_attach_initialises_a_fresh_overflow_volume(env):
    """imaging §2.3 -A: if the volume is not initialised, the CLI initialises
    it and retries."""
    s, v = env
    ok(s.iiadm("-e", "dep", v["m3"], v["cs"], v["cb"]))
    ok(s.iiadm("-A", v["ov"], v["cs"]))
    assert json.loads(ok(s.iiadm("--json", "-i", v["cs"])))["overflow"] == v["ov"]
    assert v["ov"] in ok(s.iiadm("-L"))


def test_join_without_foreign_bitmap(env):
    s, v = env
    ok(s.iiadm("-e", "ind", v["m"], v["s"], v["b"]))
    ok(s.iiadm("-w", v["s"]))
    ok(s.iiadm("-E", v["s"]))
    ok(s.iiadm("-J", v["s"]))
    assert json.loads(ok(s.iiadm("--json", "-i", v["s"])))["state"] == "idle"


def test_progress_bar_only_in_a_terminal(env):
    """§6: -w and copies started with -c/-u show a progress bar in a terminal;
    off a terminal stdout stays clean."""
    import os
    s, v = env
    big = {k: s.volume(f"pb-{k}", 8 * MiB) for k in ("m", "s")}
    ok(s.iiadm("-e", "ind", big["m"], big["s"], v["b"]))
    ok(s.iiadm("-w", big["s"]))
    ok(s.iiadm("-P", "20", "100", big["s"]))
    env_vars = dict(os.environ, IIADM_URL=s.url, TERM="xterm")
    rc, out = in_pty([IIADM, "-c", "s", big["s"]], env_vars)
    assert rc == 0, out
    rc, out = in_pty([IIADM, "-w", big["s"]], env_vars)
    assert rc == 0, out
    assert "100%" in out and big["s"] in out
    ok(s.iiadm("-c", "s", big["s"]))
    res = s.iiadm("-w", big["s"])
    assert res.returncode == 0
    assert "\r" not in res.stdout and "\x1b" not in res.stdout


def _slow_idle_independent(s, v):
    big = {k: s.volume(f"multi-{k}", 16 * MiB) for k in ("m", "s")}
    ok(s.iiadm("-e", "ind", big["m"], big["s"], v["b"]))
    ok(s.iiadm("-w", big["s"]))
    ok(s.iiadm("-P", "10000", "100", big["s"]))
    return big["s"]


def test_multi_set_copy_with_a_missing_set_does_nothing(env):
    s, v = env
    sh = _slow_idle_independent(s, v)
    res = s.iiadm("-c", "s", sh, "/nonexistent/shadow")
    fails(res, "/nonexistent/shadow")
    assert json.loads(ok(s.iiadm("--json", "-i", sh)))["state"] == "idle"


def test_multi_set_update_with_a_suspended_member_does_nothing(env):
    s, v = env
    sh = _slow_idle_independent(s, v)
    with open(s.volume("multi-m", 16 * MiB), "r+b") as f:  # something to update
        f.write(b"\x01" * MiB)
    ok(s.iiadm("-c", "s", sh))  # a full copy is pending after abort
    ok(s.iiadm("-a", sh))
    ok(s.iiadm("-e", "dep", v["m2"], v["s2"], v["b2"]))
    ok(s.iiadm("-s", v["s2"]))
    res = s.iiadm("-u", "s", sh, v["s2"])
    fails(res, v["s2"])
    assert json.loads(ok(s.iiadm("--json", "-i", sh)))["state"] == "idle"


def test_multi_set_copy_all_valid(env):
    s, v = env
    ok(s.iiadm("-e", "dep", v["m"], v["s"], v["b"]))
    ok(s.iiadm("-e", "dep", v["m2"], v["s2"], v["b2"]))
    ok(s.iiadm("-u", "s", v["s"], v["s2"]))
    ok(s.iiadm("-w", v["s"]))
    ok(s.iiadm("-w", v["s2"]))


def test_enable_into_mismatched_group_leaves_nothing(env):
    s, v = env
    ok(s.iiadm("-C", "gi", "ind"))
    fails(s.iiadm("-g", "gi", "-e", "dep", v["m"], v["s"], v["b"]), v["s"])
    assert json.loads(ok(s.iiadm("--json", "-l"))) == []


def test_enable_into_mismatched_group_over_cim_leaves_nothing(env):
    from pywbem import CIMError, CIMInstance
    s, v = env
    ok(s.iiadm("-C", "gi", "ind"))
    conn = s.conn()
    with pytest.raises(CIMError):
        conn.CreateInstance(CIMInstance("DS_IISet", properties={
            "masterVolume": v["m"], "shadowVolume": v["s"], "bitmapVolume": v["b"], "setType": "dependent",
            "groupName": "gi"}))
    assert conn.EnumerateInstanceNames("DS_IISet") == []
