#!/usr/bin/env python3
"""End-to-end indication check against a running cimomd, with pywbem as the
client and pywbem's WBEMListener as the CIM-XML listener.

Subscribes (WBEMSubscriptionManager: CIM_IndicationFilter,
CIM_ListenerDestinationCIMXML, CIM_IndicationSubscription in interop) to
    SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IIGroup
creates a DS_IIGroup, waits for the CIM_InstCreation to arrive at the
listener, checks its SourceInstance, then removes the subscription and checks
that a second group creates no delivery.

Usage: indications.py [--url http://127.0.0.1:5988] [--listener-port 25999]
       [--user U --password P]
Exit status 0 when every check passed, 1 otherwise.
"""

import argparse
import queue
import sys
import time

import pywbem


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:5988")
    ap.add_argument("--listener-port", type=int, default=25999)
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args()
    creds = (args.user, args.password) if args.user else None
    conn = pywbem.WBEMConnection(args.url, creds, default_namespace="root/cimv2")

    received = queue.Queue()
    listener = pywbem.WBEMListener("127.0.0.1", http_port=args.listener_port)
    listener.add_callback(lambda ind, host: received.put(ind))
    listener.start()
    sub_mgr = pywbem.WBEMSubscriptionManager(subscription_manager_id="cimomtest")
    server_id = sub_mgr.add_server(pywbem.WBEMServer(conn))
    failures = []
    groups = []
    try:
        dest = sub_mgr.add_destination(
            server_id, "http://127.0.0.1:%d" % args.listener_port, owned=False,
            name="cimomtest-dest")
        filt = sub_mgr.add_filter(
            server_id, "root/cimv2",
            "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IIGroup",
            query_language="WQL", owned=False, name="cimomtest-filter")
        subs = sub_mgr.add_subscriptions(server_id, filt.path, [dest.path], owned=False)
        print("subscribed: %d subscription(s)" % len(subs))

        group = pywbem.CIMInstance("DS_IIGroup", properties={
            "groupName": "pyind-%d" % int(time.time()), "groupType": "independent"})
        groups.append(conn.CreateInstance(group))
        try:
            ind = received.get(timeout=10)
            src = ind.get("SourceInstance")
            name = src.get("groupName") if src is not None else None
            print("received %s for %s" % (ind.classname, name))
            if ind.classname.lower() != "cim_instcreation":
                failures.append("unexpected indication class %s" % ind.classname)
            if name != group["groupName"]:
                failures.append("SourceInstance.groupName is %r, expected %r" % (name, group["groupName"]))
        except queue.Empty:
            failures.append("no indication within 10 s")

        for s in subs:
            sub_mgr.remove_subscriptions(server_id, [s.path])
        sub_mgr.remove_filter(server_id, filt.path)
        sub_mgr.remove_destinations(server_id, [dest.path])
        group2 = pywbem.CIMInstance("DS_IIGroup", properties={
            "groupName": "pyind2-%d" % int(time.time()), "groupType": "independent"})
        groups.append(conn.CreateInstance(group2))
        try:
            ind = received.get(timeout=2)
            failures.append("delivery after unsubscribing: %s" % ind.classname)
        except queue.Empty:
            print("no delivery after unsubscribing: ok")
    finally:
        for g in groups:
            try:
                conn.DeleteInstance(g)
            except pywbem.Error:
                pass
        sub_mgr.remove_server(server_id)
        listener.stop()
    for f in failures:
        print("FAIL:", f)
    print("%d passed, %d failed" % (max(0, 3 - len(failures)), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
