-- wrk_imethod.lua -- one CIM-XML intrinsic operation (DSP0200/DSP0201) over
-- HTTP POST, repeated; the operation's IPARAMVALUE elements are given whole,
-- so that http_bench.sh builds each request once (the same text is used for
-- the answer check) and any operation can be measured.
--
--   CIM_OP=Associators CIM_NS=root/cimv2 \
--   CIM_PARAMS='<IPARAMVALUE NAME="ObjectName"><CLASSNAME NAME="CIM_ComputerSystem"/></IPARAMVALUE>' \
--     wrk -t2 -c16 -d8s -s wrk_imethod.lua http://127.0.0.1:5988/cimom
--
-- CIM_OP      the intrinsic method name          CIM_NS  namespace (default root/cimv2)
-- CIM_PARAMS  the IPARAMVALUE elements (default none)
-- Prints "latency_p50_ms X bytes/resp Y" after wrk's summary.

local op = os.getenv("CIM_OP") or error("CIM_OP is not set")
local ns = os.getenv("CIM_NS") or "root/cimv2"
local params = os.getenv("CIM_PARAMS") or ""

local parts = {}
for p in string.gmatch(ns, "[^/]+") do parts[#parts + 1] = '<NAMESPACE NAME="' .. p .. '"/>' end

wrk.method = "POST"
wrk.body = '<?xml version="1.0" encoding="utf-8" ?>\n<CIM CIMVERSION="2.0" DTDVERSION="2.0">'
  .. '<MESSAGE ID="4711" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="' .. op .. '">'
  .. '<LOCALNAMESPACEPATH>' .. table.concat(parts) .. '</LOCALNAMESPACEPATH>'
  .. params .. '</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>'
wrk.headers["Content-Type"] = 'application/xml; charset="utf-8"'
wrk.headers["CIMOperation"] = "MethodCall"
wrk.headers["CIMMethod"] = op
wrk.headers["CIMObject"] = ns

function done(summary, latency, requests)
  io.write(string.format("%s: latency_p50_ms %.2f  bytes/resp %.0f\n", op,
    latency:percentile(50) / 1000.0,
    summary.requests > 0 and summary.bytes / summary.requests or 0))
end
