"""Contract checks of authentication (interface.md §1, §6): a users file
alone turns Basic auth on, argon2 and bcrypt hashes both work, 401 answers
carry a Basic challenge, `--auth basic` needs a users file, and iiadm's
--user/--password-file and IIADM_USER/IIADM_PASSWORD reach the server."""
import http.client
import os
import subprocess
import base64

import pytest
import pywbem

from conftest import CIMOMD, IIADM, Cimomd

# Openwall crypt_blowfish test vector: password "U*U".
BCRYPT_UU = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("auth")
    hashed = subprocess.run([CIMOMD, "hash-password"], input="argon-pw\n", capture_output=True, text=True, timeout=60)
    assert hashed.returncode == 0, hashed.stderr
    users = base / "users"
    users.write_text(f"argon:{hashed.stdout.strip().splitlines()[-1]}\nblow:{BCRYPT_UU}\n")
    server = Cimomd(base / "srv", extra_args=["--users", str(users)])  # no --auth: basic
    yield server
    server.stop()


def conn(server, creds):
    return pywbem.WBEMConnection(server.url, creds, default_namespace="root/cimv2", timeout=30)


def test_users_file_alone_enables_basic_auth(auth_server):
    with pytest.raises(pywbem.AuthError):
        conn(auth_server, None).EnumerateClassNames()
    assert "DS_IISet" in conn(auth_server, ("argon", "argon-pw")).EnumerateClassNames()
    with pytest.raises(pywbem.AuthError):
        conn(auth_server, ("argon", "wrong")).EnumerateClassNames()
    with pytest.raises(pywbem.AuthError):
        conn(auth_server, ("nobody", "argon-pw")).EnumerateClassNames()


def test_bcrypt_hashes_are_accepted(auth_server):
    assert "DS_IISet" in conn(auth_server, ("blow", "U*U")).EnumerateClassNames()
    with pytest.raises(pywbem.AuthError):
        conn(auth_server, ("blow", "U*V")).EnumerateClassNames()


def test_401_carries_a_basic_challenge(auth_server):
    c = http.client.HTTPConnection("127.0.0.1", auth_server.port, timeout=30)
    c.request("POST", "/cimom", body=b"<CIM/>", headers={
        "Content-Type": "application/xml", "CIMOperation": "MethodCall", "CIMMethod": "EnumerateClassNames",
        "CIMObject": "root/cimv2"})
    r = c.getresponse()
    r.read()
    assert r.status == 401
    assert (r.getheader("WWW-Authenticate") or "").lower().startswith("basic")
    # Garbage credentials are a 401 too, not a 400/500.
    c = http.client.HTTPConnection("127.0.0.1", auth_server.port, timeout=30)
    c.request("POST", "/cimom", body=b"<CIM/>", headers={
        "Authorization": "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Content-Type": "application/xml", "CIMOperation": "MethodCall", "CIMMethod": "EnumerateClassNames",
        "CIMObject": "root/cimv2"})
    r = c.getresponse()
    r.read()
    assert r.status == 401


def test_iiadm_credentials(auth_server, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("argon-pw\n")
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    r = subprocess.run([IIADM, "--url", auth_server.url, "--user", "argon", "--password-file", str(pw), "-l"],
                       capture_output=True, text=True, timeout=60, env=base_env)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([IIADM, "-l"], capture_output=True, text=True, timeout=60, env=dict(
        base_env, IIADM_URL=auth_server.url, IIADM_USER="blow", IIADM_PASSWORD="U*U"))
    assert r.returncode == 0, r.stderr
    r = subprocess.run([IIADM, "-l"], capture_output=True, text=True, timeout=60, env=dict(
        base_env, IIADM_URL=auth_server.url, IIADM_USER="blow", IIADM_PASSWORD="nope"))
    assert r.returncode == 1 and r.stderr.strip()
    r = subprocess.run([IIADM, "--url", auth_server.url, "-l"], capture_output=True, text=True, timeout=60, env=base_env)
    assert r.returncode == 1


def test_auth_basic_without_users_file_refuses_to_start(tmp_path):
    r = subprocess.run([CIMOMD, "--auth", "basic", "--listen", "127.0.0.1:0", "--nbd-listen", "off",
                        "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "users" in (r.stderr + r.stdout).lower()
