"""The object manager seen by other standard clients (sblim wbemcli,
pywbemcli), over HTTPS with Basic auth, across restarts and crashes, and under
malformed requests."""
import http.client
import os
import shutil
import signal
import sys
import subprocess
import threading

import pytest
import pywbem
from pywbem import CIMClass, CIMInstance, CIMProperty, CIMQualifier, CIMError

from conftest import Cimomd, CIMOMD, free_port


def ensure_class(conn, name="TST_Client"):
    try:
        conn.GetClass(name)
    except CIMError:
        conn.CreateClass(CIMClass(name, properties=[
            CIMProperty("Id", None, type="string", qualifiers=[CIMQualifier("Key", True)]),
            CIMProperty("Text", None, type="string"),
        ]))


def test_wbemcli(cimomd):
    assert shutil.which("wbemcli"), "wbemcli missing: apt-get install sblim-wbemcli"
    conn = cimomd.conn()
    ensure_class(conn)
    conn.CreateInstance(CIMInstance("TST_Client", properties={"Id": "w1", "Text": "from pywbem"}))
    base = f"http://127.0.0.1:{cimomd.port}/root/cimv2"
    out = subprocess.run(["wbemcli", "ecn", base], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "TST_Client" in out.stdout
    out = subprocess.run(["wbemcli", "ei", f"{base}:TST_Client"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "from pywbem" in out.stdout
    out = subprocess.run(["wbemcli", "gc", f"{base}:TST_Client"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Text" in out.stdout
    out = subprocess.run(["wbemcli", "gi", f'{base}:TST_Client.Id="nope"'], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "CIM_ERR_NOT_FOUND" in out.stderr or "6" in out.stderr


def test_pywbemcli(cimomd):
    conn = cimomd.conn()
    ensure_class(conn)
    exe = shutil.which("pywbemcli", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    assert exe, "pywbemcli missing: pip install pywbemtools"
    env = dict(os.environ, PYWBEMCLI_TERMWIDTH="200")
    out = subprocess.run([exe, "-s", cimomd.url, "-d", "root/cimv2", "class", "enumerate", "--no", "--di"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "TST_Client" in out.stdout
    out = subprocess.run([exe, "-s", cimomd.url, "namespace", "list"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "root/cimv2" in out.stdout
    out = subprocess.run([exe, "-s", cimomd.url, "server", "brand"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([exe, "-s", cimomd.url, "-d", "root/cimv2", "instance", "enumerate", "TST_Client"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr


def raw_post(port, body, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Content-Type": 'application/xml; charset="utf-8"', "CIMOperation": "MethodCall",
         "CIMMethod": "EnumerateClassNames", "CIMObject": "root%2Fcimv2", "CIMProtocolVersion": "1.0"}
    h.update(headers or {})
    c.request("POST", "/cimom", body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def test_malformed_requests_keep_the_server_up(cimomd):
    r, _ = raw_post(cimomd.port, b"<CIM><MESSAGE")
    assert r.status == 400 and r.getheader("CIMError") == "request-not-well-formed"
    r, _ = raw_post(cimomd.port, b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><CIM/>')
    assert r.status == 400
    deep = b"<CIM>" + b"<a>" * 10000 + b"</a>" * 10000 + b"</CIM>"
    r, _ = raw_post(cimomd.port, deep)
    assert r.status == 400
    r, _ = raw_post(cimomd.port, b"\xff\xfe\x00garbage")
    assert r.status == 400
    c = http.client.HTTPConnection("127.0.0.1", cimomd.port, timeout=30)
    c.request("GET", "/cimom")
    assert c.getresponse().status in (405, 501)
    # Still serving.
    assert "root/cimv2" in [n.lower() for n in pywbem.WBEMServer(cimomd.conn()).namespaces]


def test_restart_keeps_classes_instances_and_subscriptions(fresh_cimomd):
    conn = fresh_cimomd.conn()
    ensure_class(conn)
    conn.CreateInstance(CIMInstance("TST_Client", properties={"Id": "persist", "Text": "kept"}))
    iconn = fresh_cimomd.conn("interop")
    flt = iconn.CreateInstance(CIMInstance("CIM_IndicationFilter", properties={
        "Name": "tstfilter", "Query": "SELECT * FROM CIM_InstCreation", "QueryLanguage": "WQL",
        "SourceNamespace": "root/cimv2"}))
    fresh_cimomd.restart()
    conn = fresh_cimomd.conn()
    assert conn.GetInstance(pywbem.CIMInstanceName("TST_Client", {"Id": "persist"}))["Text"] == "kept"
    names = [p["Name"] for p in fresh_cimomd.conn("interop").EnumerateInstanceNames("CIM_IndicationFilter")]
    assert "tstfilter" in names
    assert flt is not None


def test_kill9_during_writes_loses_no_acknowledged_write(fresh_cimomd):
    conn = fresh_cimomd.conn()
    ensure_class(conn)
    acked = []
    stop = threading.Event()

    def writer():
        c = fresh_cimomd.conn()
        i = 0
        while not stop.is_set():
            try:
                c.CreateInstance(CIMInstance("TST_Client", properties={"Id": f"k{i}", "Text": "x" * 500}))
                acked.append(f"k{i}")
            except Exception:
                return
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    import time
    time.sleep(1.5)
    fresh_cimomd.proc.send_signal(signal.SIGKILL)
    fresh_cimomd.proc.wait()
    stop.set()
    t.join()
    assert len(acked) > 5
    fresh_cimomd.restart()
    ids = {p["Id"] for p in fresh_cimomd.conn().EnumerateInstanceNames("TST_Client")}
    missing = [a for a in acked if a not in ids]
    assert not missing


@pytest.fixture
def tls_cimomd(tmp_path):
    assert shutil.which("openssl"), "openssl missing"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    hashed = subprocess.run([CIMOMD, "hash-password"], input="s3cret\n", capture_output=True, text=True, timeout=60)
    assert hashed.returncode == 0, hashed.stderr
    users = tmp_path / "users"
    users.write_text(f"admin:{hashed.stdout.strip().splitlines()[-1]}\n")
    https_port = free_port()
    server = Cimomd(tmp_path / "srv", extra_args=[
        "--https-listen", f"127.0.0.1:{https_port}", "--tls-cert", str(cert), "--tls-key", str(key),
        "--users", str(users), "--auth", "basic"])
    server.https_port = https_port
    server.cert = cert
    yield server
    server.stop()


def test_https_with_basic_auth(tls_cimomd, monkeypatch):
    # requests lets these variables override an explicit CA file.
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    url = f"https://127.0.0.1:{tls_cimomd.https_port}"
    good = pywbem.WBEMConnection(url, ("admin", "s3cret"), default_namespace="root/cimv2",
                                 ca_certs=str(tls_cimomd.cert), timeout=30)
    assert "CIM_ManagedElement" in good.EnumerateClassNames(DeepInheritance=True) or good.EnumerateClassNames()
    bad = pywbem.WBEMConnection(url, ("admin", "wrong"), default_namespace="root/cimv2",
                                ca_certs=str(tls_cimomd.cert), timeout=30)
    with pytest.raises(pywbem.AuthError):
        bad.EnumerateClassNames()
    anon = pywbem.WBEMConnection(url, default_namespace="root/cimv2", ca_certs=str(tls_cimomd.cert), timeout=30)
    with pytest.raises(pywbem.AuthError):
        anon.EnumerateClassNames()


def test_refuses_unauthenticated_non_loopback(tmp_path):
    out = subprocess.run([CIMOMD, "--listen", "0.0.0.0:0", "--nbd-listen", "off", "--state-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "insecure" in (out.stderr + out.stdout).lower()
