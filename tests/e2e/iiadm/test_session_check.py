"""`iiadm session check FILE [--json]` end to end: the real binary on every
copy-session/1 fixture, offline (no cimomd), side by side with
`xmllint --schema` on the same files."""
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
IIADM = os.environ.get("IIADM", str(ROOT / "target" / "debug" / "iiadm"))
FIXTURES = ROOT / "sessions" / "fixtures"
SCHEMA = ROOT / "sessions" / "schema" / "copy-session-1.xsd"


def iiadm(*args):
    # No server anywhere: check must not need one.
    env = dict(os.environ, IIADM_URL="http://127.0.0.1:9")
    return subprocess.run([IIADM, *args], env=env, capture_output=True, text=True, timeout=60)


def xmllint_accepts(path):
    r = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(SCHEMA), str(path)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 0


def test_good_documents_exit_0_with_a_summary():
    files = sorted((FIXTURES / "good").glob("*.xml"))
    assert len(files) >= 3
    for f in files:
        r = iiadm("session", "check", str(f))
        assert r.returncode == 0, (f, r.stderr)
        assert f"{f}: valid copy-session/1 session " in r.stdout
        assert xmllint_accepts(f), f
    r = iiadm("--json", "session", "check", str(FIXTURES / "good" / "cppc.xml"))
    doc = json.loads(r.stdout)
    assert doc["valid"] is True and doc["session"] == "cppc-demo"
    assert [q["type"] for q in doc["sequences"]] == ["Continuous", "Point-In-Time", "Point-In-Time", "Continuous"]
    assert doc["sequences"][0]["events"][0]["actions"] == ["freeze 1", "start 2", "run site-switch.sh (timeout 30s)"]


def test_bad_documents_exit_1_with_their_messages():
    files = sorted((FIXTURES / "bad").glob("*.xml"))
    assert len(files) >= 30
    for f in files:
        marker, *want = [line for line in f.with_suffix(".expected").read_text().splitlines() if line]
        r = iiadm("session", "check", str(f))
        assert r.returncode == 1, (f, r.stdout)
        assert r.stderr.splitlines() == [f"{f}:{line}" for line in want]
        assert r.stdout == ""
        assert xmllint_accepts(f) == (marker == "xsd: accepts"), f
        r = iiadm("session", "check", str(f), "--json")
        doc = json.loads(r.stdout)
        assert r.returncode == 1 and doc["valid"] is False
        assert [f"{m['line']}:{m['column']}: {m['message']}" for m in doc["messages"]] == want


def test_the_runtime_verbs_are_usage_errors_for_now():
    for verb in ("start", "stop", "status", "list"):
        r = iiadm("session", verb, "x")
        assert r.returncode == 2
        assert "needs the sessions runtime" in r.stderr
    r = iiadm("session", "check", "/nonexistent/session.xml")
    assert r.returncode == 1 and "cannot read /nonexistent/session.xml" in r.stderr
