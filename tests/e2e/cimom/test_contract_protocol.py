"""Contract checks of the CIM-XML protocol layer (interface.md §2, §3):
M-POST framing, the CIMError header of every request-level failure, the
`root/interop` alias, CIM_Namespace instances, WQL with ISA in indication
filters, GetProperty on provider instances, and <ERROR> answers for
operation-level failures."""
import http.client
import re
import socket

import pywbem
from pywbem import CIMInstance, CIMInstanceName

from checks import cim_error
from iiset import enabled, vols

MiB = 1 << 20
NS = "root/cimv2"
# The DSP0200 extension URI as OpenPegasus, OpenWBEM and SBLIM send it.
MAN_URI = "http://www.dmtf.org/cim/mapping/http/v1.0"


def body_enum_class_names(ns=("root", "cimv2"), msg_ver="1.0", req="SIMPLEREQ", method="EnumerateClassNames"):
    nss = "".join(f'<NAMESPACE NAME="{n}"/>' for n in ns)
    return (
        '<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        f'<MESSAGE ID="1001" PROTOCOLVERSION="{msg_ver}"><{req}>'
        f'<IMETHODCALL NAME="{method}"><LOCALNAMESPACEPATH>{nss}</LOCALNAMESPACEPATH>'
        f'</IMETHODCALL></{req}></MESSAGE></CIM>'
    ).encode()


def send(port, body, headers=None, method="POST", drop=()):
    h = {"Content-Type": 'application/xml; charset="utf-8"', "CIMOperation": "MethodCall",
         "CIMMethod": "EnumerateClassNames", "CIMObject": "root%2Fcimv2", "CIMProtocolVersion": "1.0"}
    for d in drop:
        h.pop(d, None)
    h.update(headers or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, "/cimom", body=body, headers=h)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    c.close()
    return r, data


def refused(status, cimerror, port, body, **kw):
    """`send`s a request that must be refused with HTTP `status` and the
    CIMError header `cimerror` (DSP0200 §7)."""
    r, _ = send(port, body, **kw)
    assert r.status == status and r.getheader("CIMError") == cimerror, (r.status, r.getheader("CIMError"))


# --- M-POST ---------------------------------------------------------------

def test_mpost_with_dsp0200_man_header(cimomd):
    """DSP0200 §3: M-POST with `Man: http://www.dmtf.org/cim/mapping/http/v1.0 ; ns=73`
    and the CIM headers prefixed `73-`; the answer carries `Ext:` and the
    prefixed `73-CIMOperation: MethodResponse`."""
    r, data = send(cimomd.port, body_enum_class_names(), method="M-POST", drop=(
        "CIMOperation", "CIMMethod", "CIMObject", "CIMProtocolVersion"), headers={
        "Man": f"{MAN_URI} ; ns=73", "73-CIMOperation": "MethodCall",
        "73-CIMMethod": "EnumerateClassNames", "73-CIMObject": "root%2Fcimv2",
        "73-CIMProtocolVersion": "1.0"})
    assert r.status == 200, (r.status, r.getheaders(), data[:500])
    assert "ext" in {k.lower() for k, _ in r.getheaders()}
    assert r.getheader("73-CIMOperation") == "MethodResponse"
    assert "<IMETHODRESPONSE" in data and "DS_IISet" in data


def test_mpost_with_quoted_man_uri(cimomd):
    """RFC 2774 allows the extension URI quoted; DSP0200 examples use the
    `mapping/http` path."""
    r, data = send(cimomd.port, body_enum_class_names(), method="M-POST", drop=(
        "CIMOperation", "CIMMethod", "CIMObject"), headers={
        "Man": f'"{MAN_URI}"; ns=11', "11-CIMOperation": "MethodCall",
        "11-CIMMethod": "EnumerateClassNames", "11-CIMObject": "root/cimv2"})
    assert r.status == 200, (r.status, data[:300])
    assert r.getheader("11-CIMOperation") == "MethodResponse"


def test_mpost_framing_with_server_spelling(cimomd):
    """The prefixed-header framing itself, with the URI spelling the server
    accepts today, so the rest of M-POST stays covered."""
    r, data = send(cimomd.port, body_enum_class_names(), method="M-POST", drop=(
        "CIMOperation", "CIMMethod", "CIMObject", "CIMProtocolVersion"), headers={
        "Man": "http://www.dmtf.org/cim/mapping.http/v1.0 ; ns=42", "42-CIMOperation": "MethodCall",
        "42-CIMMethod": "EnumerateClassNames", "42-CIMObject": "root%2Fcimv2"})
    assert r.status == 200, (r.status, data[:300])
    assert r.getheader("42-CIMOperation") == "MethodResponse"
    assert "ext" in {k.lower() for k, _ in r.getheaders()}
    # A prefixed header that mismatches the body is still caught.
    r, _ = send(cimomd.port, body_enum_class_names(), method="M-POST", drop=(
        "CIMOperation", "CIMMethod", "CIMObject"), headers={
        "Man": "http://www.dmtf.org/cim/mapping.http/v1.0 ; ns=42", "42-CIMOperation": "MethodCall",
        "42-CIMMethod": "GetClass", "42-CIMObject": "root%2Fcimv2"})
    assert r.status == 400 and r.getheader("42-CIMError", r.getheader("CIMError")) == "header-mismatch"


def test_mpost_without_man_header_is_not_extended(cimomd):
    r, _ = send(cimomd.port, body_enum_class_names(), method="M-POST")
    assert r.status == 510


# --- CIMError header of request-level failures (DSP0200 §7) -----------------

def test_missing_cimoperation_is_unsupported_operation(cimomd):
    refused(400, "unsupported-operation", cimomd.port, body_enum_class_names(), drop=("CIMOperation",))


def test_wrong_cimoperation_value_is_unsupported_operation(cimomd):
    refused(400, "unsupported-operation", cimomd.port, body_enum_class_names(),
            headers={"CIMOperation": "MethodResponse"})


def test_unsupported_protocol_version_header(cimomd):
    refused(501, "unsupported-protocol-version", cimomd.port, body_enum_class_names(),
            headers={"CIMProtocolVersion": "2.0"})


def test_unsupported_message_protocol_version(cimomd):
    refused(501, "unsupported-protocol-version", cimomd.port, body_enum_class_names(msg_ver="3.0"))


def test_multireq_is_multiple_requests_unsupported(cimomd):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        '<MESSAGE ID="7" PROTOCOLVERSION="1.0"><MULTIREQ>'
        '<SIMPLEREQ><IMETHODCALL NAME="EnumerateClassNames"><LOCALNAMESPACEPATH>'
        '<NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ>'
        '<SIMPLEREQ><IMETHODCALL NAME="EnumerateClassNames"><LOCALNAMESPACEPATH>'
        '<NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ>'
        '</MULTIREQ></MESSAGE></CIM>').encode()
    refused(501, "multiple-requests-unsupported", cimomd.port, body, headers={"CIMMethod": "EnumerateClassNames"})


def test_well_formed_but_not_cim_is_request_not_valid(cimomd):
    refused(400, "request-not-valid", cimomd.port, b'<?xml version="1.0"?><FOO><BAR/></FOO>')
    # A CIM envelope with a MESSAGE missing its required ID attribute.
    bad = body_enum_class_names().replace(b' ID="1001"', b"")
    refused(400, "request-not-valid", cimomd.port, bad)


def test_not_well_formed(cimomd):
    refused(400, "request-not-well-formed", cimomd.port, body_enum_class_names()[:-20])


def test_cimmethod_header_mismatch(cimomd):
    refused(400, "header-mismatch", cimomd.port, body_enum_class_names(), headers={"CIMMethod": "GetClass"})


def test_cimobject_header_mismatch(cimomd):
    refused(400, "header-mismatch", cimomd.port, body_enum_class_names(), headers={"CIMObject": "interop"})


def test_unknown_intrinsic_is_an_error_element_not_a_request_failure(cimomd):
    r, data = send(cimomd.port, body_enum_class_names(method="FrobnicateClasses"),
                   headers={"CIMMethod": "FrobnicateClasses"})
    assert r.status == 200, data[:300]
    m = re.search(r'<ERROR\s+CODE="(\d+)"', data)
    assert m and int(m.group(1)) == pywbem.CIM_ERR_NOT_SUPPORTED, data[:500]


def test_success_response_headers(cimomd):
    r, data = send(cimomd.port, body_enum_class_names())
    assert r.status == 200
    assert r.getheader("CIMOperation") == "MethodResponse"
    assert "xml" in (r.getheader("Content-Type") or "")
    assert 'ID="1001"' in data  # the response echoes the message id


# --- namespaces ---------------------------------------------------------------

def test_root_interop_alias(cimomd):
    a = cimomd.conn("interop")
    b = cimomd.conn("root/interop")
    names_a = sorted(str(p["Name"]).lower() for p in a.EnumerateInstanceNames("CIM_Namespace"))
    names_b = sorted(str(p["Name"]).lower() for p in b.EnumerateInstanceNames("CIM_Namespace"))
    assert names_a and names_a == names_b
    assert b.GetClass("CIM_IndicationFilter").classname == "CIM_IndicationFilter"
    assert len(b.EnumerateInstances("CIM_ObjectManager")) == 1


def test_filter_created_through_alias_is_seen_in_interop(fresh_cimomd):
    alias = fresh_cimomd.conn("root/interop")
    alias.CreateInstance(CIMInstance("CIM_IndicationFilter", properties={
        "Name": "via-alias", "Query": "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IISet",
        "QueryLanguage": "WQL", "SourceNamespace": NS}))
    names = [p["Name"] for p in fresh_cimomd.conn("interop").EnumerateInstanceNames("CIM_IndicationFilter")]
    assert "via-alias" in names


def test_cim_namespace_one_instance_per_namespace(cimomd):
    conn = cimomd.conn("interop")
    names = [str(p["Name"]).lower() for p in conn.EnumerateInstanceNames("CIM_Namespace")]
    assert "root/cimv2" in names and "interop" in names
    assert len(names) == len(set(names)), names


def test_isa_filter_query_accepted_and_bad_query_refused(fresh_cimomd):
    conn = fresh_cimomd.conn("interop")
    p = conn.CreateInstance(CIMInstance("CIM_IndicationFilter", properties={
        "Name": "isa", "Query": "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA DS_IIGroup",
        "QueryLanguage": "WQL", "SourceNamespace": NS}))
    assert conn.GetInstance(p)["Query"].endswith("ISA DS_IIGroup")
    with cim_error((pywbem.CIM_ERR_INVALID_QUERY, pywbem.CIM_ERR_INVALID_PARAMETER)):
        conn.CreateInstance(CIMInstance("CIM_IndicationFilter", properties={
            "Name": "broken", "Query": "SELECT FROM WHERE ISA", "QueryLanguage": "WQL",
            "SourceNamespace": NS}))


# --- provider instances through generic operations ------------------------

def _imethod(port, method, params_xml):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        '<MESSAGE ID="5" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
        f'<IMETHODCALL NAME="{method}"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/>'
        f'<NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH>{params_xml}</IMETHODCALL>'
        '</SIMPLEREQ></MESSAGE></CIM>').encode()
    return send(port, body, headers={"CIMMethod": method})


def test_getproperty_on_provider_instance(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "gp")
    with enabled(conn, "dependent", m, s, b):
        name = (f'<INSTANCENAME CLASSNAME="DS_IISet">'
                f'<KEYBINDING NAME="shadowVolume"><KEYVALUE VALUETYPE="string">{s}</KEYVALUE></KEYBINDING>'
                f'<KEYBINDING NAME="setType"><KEYVALUE VALUETYPE="string">dependent</KEYVALUE></KEYBINDING>'
                f'</INSTANCENAME>')
        r, data = _imethod(cimomd.port, "GetProperty",
                           f'<IPARAMVALUE NAME="InstanceName">{name}</IPARAMVALUE>'
                           '<IPARAMVALUE NAME="PropertyName"><VALUE>masterVolume</VALUE></IPARAMVALUE>')
        assert r.status == 200 and "<ERROR" not in data, data[:500]
        assert re.search(r"<IRETURNVALUE>\s*<VALUE>([^<]*)</VALUE>", data).group(1) == m
        r, data = _imethod(cimomd.port, "GetProperty",
                           f'<IPARAMVALUE NAME="InstanceName">{name}</IPARAMVALUE>'
                           '<IPARAMVALUE NAME="PropertyName"><VALUE>noSuchProperty</VALUE></IPARAMVALUE>')
        m2 = re.search(r'<ERROR\s+CODE="(\d+)"', data)
        assert m2 and int(m2.group(1)) in (pywbem.CIM_ERR_NO_SUCH_PROPERTY, pywbem.CIM_ERR_INVALID_PARAMETER), data[:500]


def test_method_names_case_insensitive_response_spelling(cimomd):
    """§7 Names: CIM compares names case-insensitively; responses use the
    contract's spelling."""
    conn = cimomd.conn()
    cls = conn.GetClass("ds_iiset")
    assert cls.classname == "DS_IISet"
    assert "percentSynchronized" in cls.properties
    assert "attachIIOverflowVolume" in cls.methods
    m, s, b = (cimomd.volume("ci-m", MiB), cimomd.volume("ci-s", MiB), cimomd.volume("ci-b", 64 * 1024))
    conn.CreateInstance(CIMInstance("DS_IISet", properties={
        "MASTERVOLUME": m, "shadowvolume": s, "BitmapVolume": b, "SETTYPE": "dependent"}))
    p = CIMInstanceName("DS_IISet", {"shadowVolume": s, "setType": "dependent"}, namespace=NS)
    try:
        assert conn.InvokeMethod("GETMASTERVOLUME", p)[0] == m
        inst = conn.GetInstance(p)
        assert "masterVolume" in inst.properties.keys()
        assert [k for k in inst.properties.keys() if k.lower() == "percentsynchronized"] == ["percentSynchronized"]
    finally:
        conn.DeleteInstance(p)


# --- more framing and operation details ------------------------------------

def test_chunked_request_body(cimomd):
    """HTTP/1.1 chunked request bodies (DSP0200 allows them)."""
    body = body_enum_class_names()
    s = socket.create_connection(("127.0.0.1", cimomd.port), timeout=30)
    head = ("POST /cimom HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n"
            "CIMOperation: MethodCall\r\nCIMMethod: EnumerateClassNames\r\nCIMObject: root%2Fcimv2\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n" % len(part) + part + b"\r\n" for part in (body[:half], body[half:])) + b"0\r\n\r\n"
    s.sendall(head + chunks)
    data = b""
    while True:
        part = s.recv(65536)
        if not part:
            break
        data += part
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert b"DS_IISet" in data


def test_text_xml_content_type_accepted_and_other_refused(cimomd):
    r, data = send(cimomd.port, body_enum_class_names(), headers={"Content-Type": "text/xml"})
    assert r.status == 200 and "DS_IISet" in data
    r, _ = send(cimomd.port, body_enum_class_names(), headers={"Content-Type": "application/json"})
    assert r.status in (400, 415)


def test_error_element_carries_code_and_description(cimomd):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        '<MESSAGE ID="9" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="GetClass">'
        '<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH>'
        '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="TST_DoesNotExist"/></IPARAMVALUE>'
        '</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>').encode()
    r, data = send(cimomd.port, body, headers={"CIMMethod": "GetClass"})
    assert r.status == 200
    m = re.search(r'<ERROR\s+CODE="(\d+)"\s+DESCRIPTION="([^"]*)"', data)
    assert m and int(m.group(1)) == pywbem.CIM_ERR_NOT_FOUND and m.group(2), data[:500]
    assert 'ID="9"' in data


def test_provider_instances_honour_property_list_and_class_origin(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "pl")
    with enabled(conn, "dependent", m, s, b) as p:
        inst = conn.GetInstance(p, PropertyList=["state", "masterVolume"])
        assert set(k.lower() for k in inst.properties) == {"state", "mastervolume"}
        inst = conn.GetInstance(p, IncludeClassOrigin=True)
        assert inst.properties["state"].class_origin == "DS_IISet"
        insts = [i for i in conn.EnumerateInstances("DS_IISet", PropertyList=["setName"]) if i.path["shadowVolume"] == s]
        assert len(insts) == 1 and list(insts[0].properties) == ["setName"]
        rows = conn.ExecQuery("WQL", "SELECT shadowVolume FROM DS_IISet WHERE percentSynchronized >= 100 AND masterCapacity = 1048576")
        assert s in [r["shadowVolume"] for r in rows]
        rows = conn.ExecQuery("WQL", "SELECT shadowVolume FROM DS_IISet WHERE masterCapacity > 1048576")
        assert s not in [r["shadowVolume"] for r in rows]
        paths = list(conn.IterReferenceInstancePaths(p, MaxObjectCount=5))
        assert paths == []
        assert conn.Associators(p) == []


def test_extrinsic_call_with_instance_cimobject_header(cimomd):
    """An extrinsic call's CIMObject header is the instance path (DSP0200 §7.3.2)."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "ex2")
    with enabled(conn, "dependent", m, s, b):
        body = (
            '<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
            '<MESSAGE ID="77" PROTOCOLVERSION="1.0"><SIMPLEREQ><METHODCALL NAME="getType">'
            '<LOCALINSTANCEPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/>'
            '</LOCALNAMESPACEPATH><INSTANCENAME CLASSNAME="DS_IISet">'
            f'<KEYBINDING NAME="shadowVolume"><KEYVALUE VALUETYPE="string">{s}</KEYVALUE></KEYBINDING>'
            '<KEYBINDING NAME="setType"><KEYVALUE VALUETYPE="string">dependent</KEYVALUE></KEYBINDING>'
            '</INSTANCENAME></LOCALINSTANCEPATH></METHODCALL></SIMPLEREQ></MESSAGE></CIM>').encode()
        obj = f'root%2Fcimv2%3ADS_IISet.shadowVolume%3D%22{s.replace("/", "%2F")}%22%2CsetType%3D%22dependent%22'
        r, data = send(cimomd.port, body, headers={"CIMMethod": "getType", "CIMObject": obj})
        assert r.status == 200, data[:300]
        assert re.search(r"<RETURNVALUE[^>]*>\s*<VALUE>dependent</VALUE>", data), data[:500]


def test_unsupported_cim_version(cimomd):
    refused(501, "unsupported-cim-version", cimomd.port,
            body_enum_class_names().replace(b'CIMVERSION="2.0"', b'CIMVERSION="3.0"'))


def test_unsupported_dtd_version(cimomd):
    refused(501, "unsupported-dtd-version", cimomd.port,
            body_enum_class_names().replace(b'DTDVERSION="2.0"', b'DTDVERSION="3.0"'))


def test_cim_element_without_cimversion_is_not_valid(cimomd):
    refused(400, "request-not-valid", cimomd.port, body_enum_class_names().replace(b' CIMVERSION="2.0"', b""))


def test_minor_versions_are_accepted(cimomd):
    for old, new in ((b'CIMVERSION="2.0"', b'CIMVERSION="2.6"'), (b'DTDVERSION="2.0"', b'DTDVERSION="2.4"')):
        r, data = send(cimomd.port, body_enum_class_names().replace(old, new))
        assert r.status == 200 and "DS_IISet" in data
