"""Sends our encoded ExportIndication (responses/ExportIndication.xml) to a
pywbem WBEMListener and checks that the listener delivers the indication.
With --record, stores the listener's reply in requests/ExportIndicationResponse.xml
(decoded by tests/it/golden.rs).

    /tmp/pyv/bin/python cim/tests/data/check_export.py [--record]
"""
import http.client
import os
import sys
import time
import pywbem

HERE = os.path.dirname(os.path.abspath(__file__))
got = []
listener = pywbem.WBEMListener("127.0.0.1", http_port=51999)
listener.add_callback(lambda ind, host: got.append(ind))
listener.start()
with open(os.path.join(HERE, "responses", "ExportIndication.xml"), "rb") as f:
    body = f.read()
conn = http.client.HTTPConnection("127.0.0.1", 51999)
conn.request("POST", "/", body, {
    "Content-Type": 'application/xml; charset="utf-8"',
    "CIMExport": "MethodRequest",
    "CIMExportMethod": "ExportIndication",
    "CIMProtocolVersion": "1.0",
})
resp = conn.getresponse()
reply = resp.read()
for _ in range(50):
    if got:
        break
    time.sleep(0.1)
listener.stop()
ok = (resp.status == 200 and len(got) == 1 and got[0].classname == "DS_IISetAlert"
      and got[0]["AlertType"] == 2 and got[0]["Description"] == "copy of set s1 finished")
print("listener status", resp.status, resp.getheader("CIMError"), "indications", got)
if "--record" in sys.argv:
    with open(os.path.join(HERE, "requests", "ExportIndicationResponse.xml"), "wb") as f:
        f.write(reply)
print("ok" if ok else "FAIL")
sys.exit(0 if ok else 1)
