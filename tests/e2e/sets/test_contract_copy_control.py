"""Contract checks of copy control and waiting (interface.md §7 Copy
parameters, Waiting):

* new copy parameters take effect at once: an update throttled to one burst
  of 100 chunks then 100 s of pause, sped up with setCopyParameters,
  ModifyInstance or `iiadm -P`, completes within 5 s of the change; also
  after suspend -> resume and after a restart that resumes the copy;
* waitForCompletion waits as long as it is asked (180 s, or 0 = until the
  copy ends) however long that is, past the object manager's
  --request-timeout; a shorter timeout gives the "still copying" error; many
  waiting requests hold no worker, so other operations keep their latency.
"""
import os
import socket
import statistics
import subprocess
import threading
import time

import pytest
from pywbem import CIMError, Uint32

from checks import CIM_ERR_FAILED
from conftest import IIADM, Cimomd
from iiset import call, enable, vols, wait
from nbd_client import qio

MiB = 1 << 20
CHUNK = 32 * 1024


def throttled_update(server, conn, prefix, size=64 * MiB):
    """A synchronized independent set whose whole master was rewritten
    through NBD, updating to the shadow at the slowest parameters: it copies
    one burst of 100 chunks, then pauses 100 s."""
    m, s, b = vols(server, prefix, size, bsize=256 * 1024)
    p = enable(conn, "independent", m, s, b)
    wait(conn, p)
    r = qio(server, m, f"write -P 0x5a 0 {size}", timeout=300)
    assert r.returncode == 0, r.stderr
    assert call(conn, p, "setCopyParameters", delay=Uint32(10000), units=Uint32(100)) is True
    assert call(conn, p, "updateMasterToShadow") is True
    time.sleep(0.5)
    assert_pausing(conn, p, size)
    return p, m, s


def assert_pausing(conn, p, size, bursts=1, states=("updating",)):
    """The update runs and has copied at most `bursts` bursts of 100."""
    inst = conn.GetInstance(p)
    assert inst["state"] in states, inst["state"]
    assert inst["percentCompleted"] <= 100 * 100 * bursts / (size // CHUNK), inst["percentCompleted"]


def finishes_within_5s(conn, p, m, s, change):
    """Applies `change`, then the update must end within 5 s: the wait of
    5 s returns true instead of the "still copying" error."""
    change()
    t0 = time.monotonic()
    wait(conn, p, 5)
    assert time.monotonic() - t0 < 5.5
    inst = conn.GetInstance(p)
    assert inst["state"] == "idle" and inst["percentCompleted"] == 100
    assert inst["copyDelay"] == 2 and inst["copyUnits"] == 60000
    with open(m, "rb") as fm, open(s, "rb") as fs:
        assert fm.read() == fs.read()
    conn.DeleteInstance(p)


@pytest.mark.parametrize("how", ["setCopyParameters", "ModifyInstance", "iiadm -P"])
def test_new_copy_parameters_wake_a_pausing_update(cimomd, how):
    conn = cimomd.conn()
    p, m, s = throttled_update(cimomd, conn, f"wake-{how.split()[-1]}")

    def change():
        if how == "setCopyParameters":
            assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000)) is True
        elif how == "ModifyInstance":
            inst = conn.GetInstance(p)
            inst["copyDelay"] = Uint32(2)
            inst["copyUnits"] = Uint32(60000)
            conn.ModifyInstance(inst, PropertyList=["copyDelay", "copyUnits"])
        else:
            r = cimomd.iiadm("-P", "2", "60000", s)
            assert r.returncode == 0, r.stderr

    finishes_within_5s(conn, p, m, s, change)


def test_new_copy_parameters_apply_after_suspend_and_resume(cimomd):
    conn = cimomd.conn()
    p, m, s = throttled_update(cimomd, conn, "wake-resume")
    assert call(conn, p, "suspend") is True
    assert conn.GetInstance(p)["state"] == "suspended"
    assert call(conn, p, "resume") is True
    time.sleep(0.3)
    assert_pausing(conn, p, 64 * MiB, bursts=2)  # the resumed job's first burst
    finishes_within_5s(conn, p, m, s, lambda: call(conn, p, "setCopyParameters", delay=Uint32(2),
                                                   units=Uint32(60000)))


def test_new_copy_parameters_apply_to_an_update_resumed_after_restart(fresh_cimomd):
    server = fresh_cimomd
    conn = server.conn()
    p, m, s = throttled_update(server, conn, "wake-restart")
    server.restart()
    conn = server.conn()
    time.sleep(0.3)
    # The resumed job's first burst. A restart does not keep whether the job
    # was a copy or an update (the engine's state records only that one runs).
    assert_pausing(conn, p, 64 * MiB, bursts=2, states=("updating", "copying"))
    finishes_within_5s(conn, p, m, s, lambda: call(conn, p, "setCopyParameters", delay=Uint32(2),
                                                   units=Uint32(60000)))


def get_latency(server, p, n=20):
    conn = server.conn()
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        conn.GetInstance(p)
        conn.EnumerateInstanceNames("DS_IISet")
        times.append(time.monotonic() - t0)
    return statistics.median(times)


def test_waits_last_as_long_as_asked(tmp_path):
    """One copy of about 90 s, waited on concurrently: timeoutSeconds=180 and
    0 return true when it ends (past the server's 20 s --request-timeout and
    the old 55 s cap), `iiadm -w` exits 0 then, timeoutSeconds=5 is the
    "still copying" error after 5 s; 64 waits in flight do not slow other
    operations, and waits whose clients disconnect end quietly."""
    server = Cimomd(tmp_path, extra_args=["--request-timeout", "20"])
    try:
        conn = server.conn()
        size = 16 * MiB  # 512 chunks: bursts of 100, five pauses of 18 s
        m, s, b = vols(server, "long", size)
        p = enable(conn, "independent", m, s, b)
        wait(conn, p, 60)
        baseline = get_latency(server, p)
        assert call(conn, p, "setCopyParameters", delay=Uint32(1800), units=Uint32(100)) is True
        started = time.monotonic()
        assert call(conn, p, "copyMasterToShadow") is True

        results = {}

        def waiter(name, secs):
            c = server.conn()
            c.timeout = 300
            t0 = time.monotonic()
            try:
                results[name] = (call(c, p, "waitForCompletion", timeoutSeconds=Uint32(secs)),
                                 time.monotonic() - t0)
            except CIMError as e:
                results[name] = (e, time.monotonic() - t0)

        def iiadm_wait():
            env = dict(os.environ, IIADM_URL=server.url)
            r = subprocess.run([IIADM, "-w", s], env=env, capture_output=True, text=True, timeout=300)
            results["iiadm"] = (r, time.monotonic() - started)

        threads = [threading.Thread(target=waiter, args=(f"w{i}", 0)) for i in range(62)]
        threads += [threading.Thread(target=waiter, args=("180", 180)),
                    threading.Thread(target=waiter, args=("0", 0)),
                    threading.Thread(target=waiter, args=("5", 5)),
                    threading.Thread(target=iiadm_wait)]
        for t in threads:
            t.start()
        # Clients that give up: their waits end with them.
        for _ in range(8):
            body = ('<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
                    '<MESSAGE ID="9" PROTOCOLVERSION="1.0"><SIMPLEREQ><METHODCALL NAME="waitForCompletion">'
                    '<LOCALINSTANCEPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/>'
                    '</LOCALNAMESPACEPATH><INSTANCENAME CLASSNAME="DS_IISet">'
                    f'<KEYBINDING NAME="shadowVolume"><KEYVALUE VALUETYPE="string">{s}</KEYVALUE></KEYBINDING>'
                    '<KEYBINDING NAME="setType"><KEYVALUE VALUETYPE="string">independent</KEYVALUE></KEYBINDING>'
                    '</INSTANCENAME></LOCALINSTANCEPATH>'
                    '<PARAMVALUE NAME="timeoutSeconds" PARAMTYPE="uint32"><VALUE>0</VALUE></PARAMVALUE>'
                    '</METHODCALL></SIMPLEREQ></MESSAGE></CIM>').encode()
            head = (f"POST /cimom HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml; charset=utf-8\r\n"
                    f"CIMOperation: MethodCall\r\nCIMMethod: waitForCompletion\r\n"
                    f"CIMObject: root%2Fcimv2%3ADS_IISet.shadowVolume%3D%22{s.replace('/', '%2F')}%22%2C"
                    f"setType%3D%22independent%22\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(head + body)
                time.sleep(0.1)
        time.sleep(2)
        # Other operations keep their latency while the waits are in flight.
        during = get_latency(server, p)
        assert during < max(3 * baseline, baseline + 0.1), (baseline, during)
        inst = conn.GetInstance(p)
        assert inst["state"] == "copying" and inst["percentCompleted"] < 100
        for t in threads:
            t.join(timeout=300)
        ended = time.monotonic() - started
        assert 60 < ended < 180, ended

        e, took = results["5"]
        assert isinstance(e, CIMError) and e.status_code == CIM_ERR_FAILED, e
        assert "still copying after 5 s" in e.status_description and s in e.status_description
        assert 4.5 < took < 15, took
        for name in ["180", "0"] + [f"w{i}" for i in range(62)]:
            rv, took = results[name]
            assert rv is True, (name, rv)
            assert took > 60, (name, took)
        r, took = results["iiadm"]
        assert r.returncode == 0, r.stderr
        assert took > 60
        inst = conn.GetInstance(p)
        assert inst["state"] == "idle" and inst["percentCompleted"] == 100
        with open(m, "rb") as fm, open(s, "rb") as fs:
            assert fm.read() == fs.read()
    finally:
        server.stop()
