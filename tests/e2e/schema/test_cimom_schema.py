"""The object manager with the whole DMTF 2.41 schema loaded (`cimomd load-mof`):
class reads agree with each other, a schema change is visible to the very next
request, and 64 concurrent enumerations of the whole schema keep the server's
memory bounded (the answer is rendered once and shared, never copied per
request). The corpus comes from MOF_CORPUS (default ../shared/corpus).
"""
import http.client
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import pywbem

from checks import cim_error
from conftest import CIMOMD, ROOT, Cimomd

CORPUS = Path(os.environ.get("MOF_CORPUS", ROOT.parent / "shared" / "corpus"))
SCHEMA = CORPUS / "cim-schema" / "2.41.0" / "CIM_Schema.mof"


@pytest.fixture(scope="module")
def schema_cimomd(tmp_path_factory):
    assert SCHEMA.is_file(), (
        f"MOF corpus not found: {SCHEMA} does not exist; set MOF_CORPUS to the directory "
        "holding cim-schema/2.41.0/"
    )
    base = tmp_path_factory.mktemp("schema")
    subprocess.run(
        [CIMOMD, "load-mof", "--state-dir", str(base / "state"), "--namespace", "root/cimv2",
         str(SCHEMA)],
        check=True, capture_output=True, timeout=600,
    )
    server = Cimomd(base)
    yield server
    server.stop()


def status(pid):
    """VmRSS and VmHWM of a process in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def raw_imethod(port, op, params):
    """Posts an intrinsic call and streams the answer away; returns (bytes, tail)."""
    body = (
        '<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        '<MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
        f'<IMETHODCALL NAME="{op}"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/>'
        f'<NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH>{params}</IMETHODCALL>'
        "</SIMPLEREQ></MESSAGE></CIM>"
    )
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", "/cimom", body=body, headers={
        "Content-Type": 'application/xml; charset="utf-8"', "CIMOperation": "MethodCall",
        "CIMMethod": op, "CIMObject": "root%2Fcimv2"})
    r = c.getresponse()
    assert r.status == 200
    n, tail = 0, b""
    while True:
        chunk = r.read(1 << 16)
        if not chunk:
            break
        n += len(chunk)
        tail = (tail + chunk)[-200:]
    c.close()
    return n, tail


def flag(name, v):
    return f'<IPARAMVALUE NAME="{name}"><VALUE>{"TRUE" if v else "FALSE"}</VALUE></IPARAMVALUE>'


def test_class_reads_of_the_whole_schema_agree(schema_cimomd):
    conn = schema_cimomd.conn()
    names = conn.EnumerateClassNames(DeepInheritance=True)
    assert len(names) > 1400
    assert "CIM_ComputerSystem" in names
    classes = conn.EnumerateClasses(DeepInheritance=True, LocalOnly=False, IncludeQualifiers=False)
    assert sorted(c.classname for c in classes) == sorted(names)
    cs = conn.GetClass("CIM_ComputerSystem", LocalOnly=False, IncludeQualifiers=True)
    assert cs.superclass == "CIM_System"
    assert "Description" in cs.qualifiers
    assert "Name" in cs.properties and cs.properties["Name"].propagated
    # The same class from the deep enumeration (a different cached path).
    from_enum = next(c for c in classes if c.classname == "CIM_ComputerSystem")
    assert set(from_enum.properties) == set(cs.properties)
    # Association traversal at class level finds the schema's associations.
    refs = conn.ReferenceNames("CIM_ComputerSystem")
    assert any(r.classname == "CIM_SystemComponent" for r in refs)


def test_a_schema_change_is_visible_to_the_next_request(schema_cimomd):
    conn = schema_cimomd.conn()
    assert "T_Cache_Probe" not in conn.EnumerateClassNames(DeepInheritance=True)
    new = pywbem.CIMClass("T_Cache_Probe", superclass="CIM_ComputerSystem")
    conn.CreateClass(new)
    assert "T_Cache_Probe" in conn.EnumerateClassNames(DeepInheritance=True)
    assert "T_Cache_Probe" in conn.EnumerateClassNames(ClassName="CIM_ComputerSystem")
    got = conn.GetClass("T_Cache_Probe", LocalOnly=False)
    assert "Dedicated" in got.properties  # inherited from CIM_ComputerSystem
    new.properties["Probe"] = pywbem.CIMProperty("Probe", None, type="string")
    conn.ModifyClass(new)
    assert "Probe" in conn.GetClass("T_Cache_Probe", LocalOnly=False).properties
    conn.DeleteClass("T_Cache_Probe")
    assert "T_Cache_Probe" not in conn.EnumerateClassNames(DeepInheritance=True)
    with cim_error(pywbem.CIM_ERR_NOT_FOUND):
        conn.GetClass("T_Cache_Probe")


@pytest.mark.parametrize("op,params,clients", [
    ("EnumerateClassNames", flag("DeepInheritance", True), 64),
    ("EnumerateClasses", flag("DeepInheritance", True) + flag("IncludeQualifiers", False), 64),
    ("EnumerateClasses", flag("DeepInheritance", True) + flag("IncludeQualifiers", True), 64),
])
def test_64_concurrent_whole_schema_enumerations_keep_memory_bounded(
        schema_cimomd, op, params, clients):
    pid = schema_cimomd.proc.pid
    single, _ = raw_imethod(schema_cimomd.port, op, params)
    before = status(pid)
    results = []
    errors = []

    def one():
        try:
            results.append(raw_imethod(schema_cimomd.port, op, params))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(results) == clients
    bad = [(n, tail[-80:]) for n, tail in results if n != single or not tail.rstrip().endswith(b"</CIM>")]
    assert not bad, (single, bad[:3])
    after = status(pid)
    grown_kb = after["VmHWM"] - before["VmHWM"]
    # One copy per client would be clients * single; the answer is shared, so the
    # peak grows by a few answers at most (the render's buffer, glibc arenas).
    assert grown_kb * 1024 < max(4 * single, 64 << 20), (
        f"{op}: peak RSS grew by {grown_kb} kB for {clients} clients of a {single}-byte answer"
    )
    # Once the burst is over, the allocator's free memory goes back (cimomd
    # trims half a second after the last request): the resident size returns
    # to within a few MB of what it was before the burst.
    deadline = time.monotonic() + 5
    while True:
        now_kb = status(pid)["VmRSS"]
        if now_kb - before["VmRSS"] < 16 << 10 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert now_kb - before["VmRSS"] < 16 << 10, (
        f"{op}: RSS stayed {now_kb - before['VmRSS']} kB above its size before the burst"
    )
