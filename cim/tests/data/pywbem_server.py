"""A tiny CIM-XML HTTP endpoint for golden tests with pywbem.

It records each request body as requests/<CIMMethod>.xml (when RECORD is set)
and answers with responses/<CIMMethod>.xml if that file exists, or with a
CIM_ERR_NOT_SUPPORTED error otherwise.
"""
import http.server
import os
import threading

HERE = os.path.dirname(os.path.abspath(__file__))

ERROR = ('<?xml version="1.0" encoding="utf-8" ?>\n<CIM CIMVERSION="2.0" DTDVERSION="2.0">'
         '<MESSAGE ID="{id}" PROTOCOLVERSION="1.0"><SIMPLERSP><IMETHODRESPONSE NAME="{m}">'
         '<ERROR CODE="7" DESCRIPTION="capture only"/></IMETHODRESPONSE></SIMPLERSP></MESSAGE></CIM>\n')


def start(record=False, suffix=""):
    """Starts the server on an ephemeral port; returns (server, url)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            method = self.headers.get("CIMMethod", "unknown")
            name = method + suffix
            if record:
                with open(os.path.join(HERE, "requests", name + ".xml"), "wb") as f:
                    f.write(body)
            path = os.path.join(HERE, "responses", method + ".xml")
            if os.path.exists(path):
                with open(path, "rb") as f:
                    reply = f.read()
                # Echo the request's message ID, as a server must.
                import re
                m = re.search(rb'MESSAGE ID="([^"]*)"', body)
                reply = re.sub(rb'MESSAGE ID="[^"]*"', b'MESSAGE ID="' + m.group(1) + b'"', reply, count=1)
            else:
                mid = "0"
                import re
                m = re.search(rb'MESSAGE ID="([^"]*)"', body)
                if m:
                    mid = m.group(1).decode()
                reply = ERROR.format(id=mid, m=method).encode()
            self.send_response(200)
            self.send_header("Content-Type", 'application/xml; charset="utf-8"')
            self.send_header("CIMOperation", "MethodResponse")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d" % srv.server_address[1]
