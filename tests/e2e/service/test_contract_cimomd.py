"""Contract checks of the `cimomd` and `mofc` command lines (interface.md §1):
`load-mof` of a user MOF into a namespace, `--config` TOML and flag
precedence, the default and repeatable `--volume-root`, `--nbd-listen off`,
and the mofc front end."""
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName

from checks import cim_error
from conftest import CIMOMD, ROOT, free_port, free_ports, wait_for_port

MOFC = os.environ.get("MOFC", str(ROOT / "target" / "debug" / "mofc"))
MiB = 1 << 20

USER_MOF = """
[Description("a user class loaded with load-mof")]
class TST_UserMof {
    [Key] string Id;
    uint32 Count;
};
instance of TST_UserMof { Id = "one"; Count = 7; };
"""


class Proc:
    def __init__(self, args, port, nbd_port=None):
        self.port = port
        self.nbd_port = nbd_port
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, self.proc, timeout=60)
        except Exception:
            out = self.proc.stdout.read().decode(errors="replace") if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(out)

    def conn(self, ns="root/cimv2"):
        return pywbem.WBEMConnection(f"http://127.0.0.1:{self.port}", default_namespace=ns, timeout=60)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(tmp_path, *extra, state=None, root=True):
    port, nbd = free_ports(2)
    state = state or tmp_path / "state"
    args = [CIMOMD, "--listen", f"127.0.0.1:{port}", "--nbd-listen", f"127.0.0.1:{nbd}",
            "--state-dir", str(state), "--log", "warn"]
    if root:
        (tmp_path / "volumes").mkdir(exist_ok=True)
        args += ["--volume-root", str(tmp_path / "volumes")]
    return Proc(args + list(extra), port, nbd)


def sparse(path, size=MiB):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.truncate(size)
    return str(path.resolve())


def enable(conn, m, s, b):
    conn.CreateInstance(CIMInstance("DS_IISet", properties={
        "masterVolume": m, "shadowVolume": s, "bitmapVolume": b, "setType": "dependent"}))
    return CIMInstanceName("DS_IISet", {"shadowVolume": s, "setType": "dependent"}, namespace="root/cimv2")


def test_load_mof_into_a_namespace(tmp_path):
    mof = tmp_path / "user.mof"
    mof.write_text(USER_MOF)
    state = tmp_path / "state"
    r = subprocess.run([CIMOMD, "--state-dir", str(state), "load-mof", "--namespace", "root/test", str(mof)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    r = subprocess.run([CIMOMD, "--state-dir", str(state), "load-mof", str(mof)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout  # default namespace
    srv = start(tmp_path, state=state)
    try:
        conn = srv.conn("root/test")
        cls = conn.GetClass("TST_UserMof", IncludeQualifiers=True)
        assert cls.qualifiers["Description"].value == "a user class loaded with load-mof"
        insts = conn.EnumerateInstances("TST_UserMof")
        assert [(i["Id"], i["Count"]) for i in insts] == [("one", 7)]
        assert srv.conn().GetClass("TST_UserMof").classname == "TST_UserMof"
        # The bundled model is still there (first start compiled it or
        # load-mof did).
        assert srv.conn().GetClass("DS_IISet").classname == "DS_IISet"
        names = [str(p["Name"]).lower() for p in srv.conn("interop").EnumerateInstanceNames("CIM_Namespace")]
        assert "root/test" in names
    finally:
        srv.stop()


def test_load_mof_error_changes_nothing(tmp_path):
    state = tmp_path / "state"
    good = tmp_path / "good.mof"
    good.write_text(USER_MOF)
    bad = tmp_path / "bad.mof"
    bad.write_text("class TST_Half { [Key] string Id; };\nclass TST_Broken : TST_Nowhere { string x; };\n")
    r = subprocess.run([CIMOMD, "--state-dir", str(state), "load-mof", str(good)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([CIMOMD, "--state-dir", str(state), "load-mof", str(bad)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "TST_Nowhere" in r.stderr + r.stdout or "bad.mof" in r.stderr + r.stdout
    srv = start(tmp_path, state=state)
    try:
        conn = srv.conn()
        with cim_error(pywbem.CIM_ERR_NOT_FOUND):
            conn.GetClass("TST_Half")  # all or nothing
        assert conn.GetClass("TST_UserMof").classname == "TST_UserMof"
    finally:
        srv.stop()


def test_load_mof_refused_while_server_runs(tmp_path):
    mof = tmp_path / "user.mof"
    mof.write_text(USER_MOF)
    srv = start(tmp_path)
    try:
        r = subprocess.run([CIMOMD, "--state-dir", str(tmp_path / "state"), "load-mof", str(mof)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0
        with pytest.raises(CIMError):
            srv.conn().GetClass("TST_UserMof")
    finally:
        srv.stop()


def test_config_toml_sets_every_key_and_flags_win(tmp_path):
    port, nbd = free_ports(2)
    roots = [tmp_path / "r1", tmp_path / "r2"]
    cfg = tmp_path / "cimomd.toml"
    cfg.write_text(
        f'listen = "127.0.0.1:{port}"\n'
        f'nbd-listen = "127.0.0.1:{nbd}"\n'
        f'state-dir = "{tmp_path / "cfgstate"}"\n'
        f'volume-root = ["{roots[0]}", "{roots[1]}"]\n'
        'log = "warn"\n')
    m, s, b = sparse(roots[0] / "m"), sparse(roots[1] / "s"), sparse(roots[1] / "b", 64 * 1024)
    srv = Proc([CIMOMD, "--config", str(cfg)], port, nbd)
    try:
        conn = srv.conn()
        p = enable(conn, m, s, b)  # both roots of the file are allowed
        assert (tmp_path / "cfgstate").is_dir() and any((tmp_path / "cfgstate").iterdir())
        with socket.create_connection(("127.0.0.1", nbd), timeout=5) as sk:
            assert sk.recv(8) == b"NBDMAGIC"
        conn.DeleteInstance(p)
    finally:
        srv.stop()
    # A flag wins over the file.
    port2 = free_port()
    srv = Proc([CIMOMD, "--config", str(cfg), "--listen", f"127.0.0.1:{port2}"], port2, nbd)
    try:
        assert srv.conn().EnumerateInstanceNames("DS_IISet") == []
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        srv.stop()


def test_config_unknown_key_is_refused(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('listn = "127.0.0.1:1"\n')
    r = subprocess.run([CIMOMD, "--config", str(cfg), "--state-dir", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "listn" in r.stderr + r.stdout
    r = subprocess.run([CIMOMD, "--config", str(tmp_path / "missing.toml")], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


def test_default_volume_root_is_state_dir_volumes(tmp_path):
    state = tmp_path / "state"
    srv = start(tmp_path, state=state, root=False)
    try:
        conn = srv.conn()
        vr = state / "volumes"
        m, s, b = sparse(vr / "m"), sparse(vr / "s"), sparse(vr / "b", 64 * 1024)
        p = enable(conn, m, s, b)
        conn.DeleteInstance(p)
        other = sparse(tmp_path / "volumes" / "m")
        with cim_error(pywbem.CIM_ERR_ACCESS_DENIED):
            enable(conn, other, s, b)
    finally:
        srv.stop()


def test_repeatable_volume_root_and_symlink_between_roots(tmp_path):
    r2 = tmp_path / "second"
    srv = start(tmp_path, "--volume-root", str(r2))
    try:
        conn = srv.conn()
        m = sparse(tmp_path / "volumes" / "m")
        s, b = sparse(r2 / "s"), sparse(r2 / "b", 64 * 1024)
        link = tmp_path / "volumes" / "to-second"
        link.symlink_to(r2 / "s")  # inside a root, pointing into another root
        p = enable(conn, m, str(link), b)
        conn.DeleteInstance(CIMInstanceName("DS_IISet", dict(conn.EnumerateInstanceNames("DS_IISet")[0].keybindings),
                                            namespace="root/cimv2"))
        assert conn.EnumerateInstanceNames("DS_IISet") == []
        assert p is not None
    finally:
        srv.stop()


def test_nbd_listen_off(tmp_path):
    port = free_port()
    (tmp_path / "volumes").mkdir()
    srv = Proc([CIMOMD, "--listen", f"127.0.0.1:{port}", "--nbd-listen", "off", "--state-dir", str(tmp_path / "st"),
                "--volume-root", str(tmp_path / "volumes"), "--log", "warn"], port)
    try:
        conn = srv.conn()
        vr = tmp_path / "volumes"
        p = enable(conn, sparse(vr / "m"), sparse(vr / "s"), sparse(vr / "b", 64 * 1024))
        assert conn.GetInstance(p)["state"] == "idle"
        conn.DeleteInstance(p)
    finally:
        srv.stop()


def test_mofc_check_and_dump(tmp_path):
    good = tmp_path / "good.mof"
    good.write_text('Qualifier Key : boolean = false, Scope(property, reference), Flavor(DisableOverride);\n'
                    'Qualifier Description : string = null, Scope(any), Flavor(Translatable);\n' + USER_MOF)
    r = subprocess.run([MOFC, "check", str(good)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([MOFC, "dump", "--format", "mof", str(good)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "TST_UserMof" in r.stdout
    again = tmp_path / "again.mof"
    again.write_text(r.stdout)
    r2 = subprocess.run([MOFC, "dump", "--format", "mof", str(again)], capture_output=True, text=True, timeout=60)
    assert r2.returncode == 0 and r2.stdout == r.stdout  # the printed MOF round-trips
    r = subprocess.run([MOFC, "dump", "--format", "xml", str(good)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and 'CLASS NAME="TST_UserMof"' in r.stdout
    bad = tmp_path / "bad.mof"
    bad.write_text("class TST_X { string a }\n")
    r = subprocess.run([MOFC, "check", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "bad.mof" in r.stderr + r.stdout


def test_https_needs_cert_and_key_together(tmp_path):
    # Neither makes a self-signed pair (issue 18, test_service.py); one alone is refused.
    (tmp_path / "cert.pem").write_text("")
    r = subprocess.run([CIMOMD, "--listen", "off", "--https-listen", f"127.0.0.1:{free_port()}", "--nbd-listen", "off",
                        "--tls-cert", str(tmp_path / "cert.pem"), "--state-dir", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--tls-key" in r.stderr, r


def test_insecure_allows_auth_none_on_any_address(tmp_path):
    port = free_port()
    (tmp_path / "volumes").mkdir()
    srv = Proc([CIMOMD, "--listen", f"0.0.0.0:{port}", "--insecure", "--nbd-listen", "off",
                "--state-dir", str(tmp_path / "st"), "--log", "warn"], port)
    try:
        assert "DS_IISet" in srv.conn().EnumerateClassNames()
    finally:
        srv.stop()


def test_default_state_dir_is_var_cimom_under_cwd(tmp_path):
    port = free_port()
    proc = subprocess.Popen([CIMOMD, "--listen", f"127.0.0.1:{port}", "--nbd-listen", "off", "--log", "warn"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        assert (tmp_path / "var" / "cimom").is_dir() and any((tmp_path / "var" / "cimom").iterdir())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_first_start_compiles_bundled_mof_and_restart_reuses_it(tmp_path):
    srv = start(tmp_path)
    try:
        conn = srv.conn()
        for cls in ("DS_IISet", "DS_IIGroup", "DS_IIOverflowVol", "DS_Volume"):
            assert conn.GetClass(cls).classname == cls
        iconn = srv.conn("interop")
        for cls in ("CIM_ObjectManager", "CIM_Namespace", "CIM_IndicationFilter",
                    "CIM_ListenerDestinationCIMXML", "CIM_IndicationSubscription"):
            assert iconn.GetClass(cls).classname == cls
        for cls in ("CIM_InstCreation", "CIM_InstDeletion", "CIM_InstModification", "CIM_AlertIndication"):
            found = []
            for c in (conn, iconn):
                try:
                    found.append(c.GetClass(cls).classname)
                except CIMError:
                    pass
            assert cls in found, cls
        # A user change to the repository survives the next start (reused, not recompiled).
        conn.SetQualifier(pywbem.CIMQualifierDeclaration("TstKeep", "string", value="v", scopes={"CLASS": True}))
    finally:
        srv.stop()
    srv = start(tmp_path)
    try:
        assert srv.conn().GetQualifier("TstKeep").value == "v"
    finally:
        srv.stop()


def test_volume_root_given_through_a_symlink(tmp_path):
    """§7: paths are canonicalised before the check, so a root named through
    a symlink (as /var -> /private/var on some systems) still admits its
    volumes, by either spelling."""
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "rootlink"
    link.symlink_to(real)
    srv = start(tmp_path, "--volume-root", str(link), root=False)
    try:
        conn = srv.conn()
        m, s = sparse(real / "m"), sparse(real / "s")
        b = str(link / "b")
        sparse(real / "b", 64 * 1024)
        p = enable(conn, str(link / "m"), s, b)
        assert conn.EnumerateInstanceNames("DS_IISet")
        conn.DeleteInstance(CIMInstanceName("DS_IISet", dict(conn.EnumerateInstanceNames("DS_IISet")[0].keybindings),
                                            namespace="root/cimv2"))
        assert m and p is not None
    finally:
        srv.stop()
