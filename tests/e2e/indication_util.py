"""Indication helpers shared by the e2e suites: a pywbem WBEMListener on a
free port collecting what it receives (the `listener` fixture: import it
into a test module), subscriptions made in the interop namespace
(`subscribe`, `watch`), and the source instance of an indication."""
import threading
import time

import pytest
from pywbem import CIMInstance, WBEMListener

from conftest import free_port

NS = "root/cimv2"


class Collector:
    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def __call__(self, indication, host):
        with self.lock:
            self.items.append(indication)

    def wait_for(self, pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                found = [i for i in self.items if pred(i)]
            if found:
                return found
            time.sleep(0.1)
        with self.lock:
            seen = [(i.classname, src_class(i)) for i in self.items]
        raise AssertionError(f"indication not received within {timeout}s; got {seen}")


def src_class(ind):
    src = ind.properties.get("SourceInstance")
    return getattr(src.value, "classname", None) if src is not None else None


def src(ind):
    return ind["SourceInstance"]


@pytest.fixture
def listener():
    port = free_port()
    lst = WBEMListener("127.0.0.1", http_port=port)
    col = Collector()

    def on_indication(indication, host):
        col(indication, host)

    lst.add_callback(on_indication)
    lst.start()
    yield port, col
    lst.stop()


def subscribe(server, port, query, name):
    iconn = server.conn("interop")
    flt = iconn.CreateInstance(CIMInstance("CIM_IndicationFilter", properties={
        "Name": name, "Query": query, "QueryLanguage": "WQL", "SourceNamespace": NS}))
    dest = iconn.CreateInstance(CIMInstance("CIM_ListenerDestinationCIMXML", properties={
        "Name": name + "-dest", "Destination": f"http://127.0.0.1:{port}"}))
    sub = iconn.CreateInstance(CIMInstance("CIM_IndicationSubscription", properties={
        "Filter": flt, "Handler": dest}))
    return iconn, [sub, dest, flt]


def unsubscribe(iconn, paths):
    for p in paths:
        iconn.DeleteInstance(p)


def watch(server, listener, query, name):
    """Subscribes the `listener` fixture's collector to `query`; returns the
    collector, a connection to `server` and a function that unsubscribes."""
    port, col = listener
    iconn, subs = subscribe(server, port, query, name)
    return col, server.conn(), lambda: unsubscribe(iconn, subs)
