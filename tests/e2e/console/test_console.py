"""The management server `iimgr` and its browser console, end to end: real
`cimomd` hosts, a real `iimgr`, and Debian's Chromium driven by Playwright
(issue 13's six scenarios). Locators go by role and accessible name; each
scenario leaves a screenshot of its end state in $CONSOLE_SHOTS."""
import json
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import CIMOMD, IIADM, Cimomd
from console_util import (IIMGR, MiB, ApiSession, Iimgr, PinnedCimomd, chromium_path, fill, http,
                          nbd_bytes, seg, shot, CHROMIUM_FLAGS)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture
def browser_page(playwright, tmp_path):
    """A fresh Chromium profile (fresh --user-data-dir) and one page."""
    ctx = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.set_default_timeout(20000)
    yield page
    ctx.close()


@pytest.fixture
def host1(tmp_path):
    h = PinnedCimomd(tmp_path / "h1")
    yield h
    h.stop()


@pytest.fixture
def mgr(tmp_path, host1):
    m = Iimgr(tmp_path / "mgr", [("h1", host1.url, ["prod"])])
    m.wait_host_live("h1")
    yield m
    m.stop()


def iiadm(host, *args):
    env = {"IIADM_URL": host.url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([IIADM, "-n", *args], env=env, capture_output=True, text=True, timeout=120)


def row_of(page, name):
    """The table row whose name link is `name`."""
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


def open_properties(scope, page, label):
    """Properties of a set (`label` its name) or group (`group NAME`) from its
    row's action menu, within `scope` (a row or the page)."""
    scope.get_by_role("button", name=f"Actions for {label}", exact=True).click()
    page.get_by_role("menu", name="Set actions").get_by_role("menuitem", name="Properties").click()


def open_console(page, mgr):
    page.goto(mgr.url + "/")
    page.get_by_role("heading", name="Sets and groups").wait_for()
    page.evaluate("window.__marker = 'kept'")


def test_create_a_set_and_watch_it_copy(browser_page, host1, mgr, tmp_path):
    page = browser_page
    m = host1.volume("m", 64 * MiB)
    fill(m, 64 * MiB)
    s = host1.volume("s", 64 * MiB)
    b = host1.volume("b", MiB)
    open_console(page, mgr)
    page.get_by_role("button", name="New Set").click()
    dlg = page.get_by_role("dialog", name="New Set")
    dlg.get_by_label("Independent").check()
    dlg.get_by_label("Name").fill("ws1")
    dlg.get_by_label("Master volume").select_option(m)
    dlg.get_by_label("Shadow volume").select_option(s)
    dlg.get_by_label("Bitmap volume").select_option(b)
    dlg.get_by_text("Copy options").click()
    dlg.get_by_label("Delay (10 ms ticks)").fill("20")
    dlg.get_by_label("Units (chunks per burst)").fill("100")
    dlg.get_by_role("button", name="Create").click()
    page.get_by_role("dialog", name="New Set").wait_for(state="hidden")
    row = row_of(page, "ws1")
    row.wait_for()
    seen = set()
    deadline = time.time() + 90
    while time.time() < deadline:
        bar = row.get_by_role("progressbar")
        if bar.count():
            try:
                seen.add(int(bar.first.get_attribute("value", timeout=500)))
            except Exception:
                pass
        cells = row.get_by_role("cell").all_inner_texts()
        if len(cells) > 6 and cells[3] == "idle" and cells[5] == "100 %":
            break
        time.sleep(0.05)
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[3] == "idle" and cells[5] == "100 %", cells
    assert cells[6] == "100 %", cells
    assert len(seen) >= 3 and all(0 <= v <= 100 for v in seen), seen
    assert nbd_bytes(host1, s, tmp_path) == nbd_bytes(host1, m, tmp_path)
    shot(page, "1-create-and-copy")
    # The Set Properties dialog shows the same state.
    open_properties(row, page, "ws1")
    props = page.get_by_role("dialog", name="Properties")
    props.get_by_role("tab", name="Status").wait_for()
    assert props.get_by_role("progressbar").first.get_attribute("value") == "100"
    shot(page, "1-set-properties")
    assert page.evaluate("window.__marker") == "kept"


def test_groups_available_sets_and_group_update(browser_page, host1, mgr):
    page = browser_page
    for i in (1, 2):
        assert iiadm(host1, "-e", "ind", host1.volume(f"m{i}", MiB), host1.volume(f"s{i}", MiB),
                     host1.volume(f"b{i}", MiB), f"ind{i}").returncode == 0
    assert iiadm(host1, "-e", "dep", host1.volume("m3", MiB), host1.volume("s3", MiB),
                 host1.volume("b3", MiB), "dep3").returncode == 0
    open_console(page, mgr)
    page.get_by_role("button", name="New Group").click()
    dlg = page.get_by_role("dialog", name="New Group")
    dlg.get_by_label("Name").fill("g1")
    dlg.get_by_label("Independent").check()
    dlg.get_by_role("button", name="Create").click()
    open_properties(page, page, "group g1")
    props = page.get_by_role("dialog", name="Properties")
    props.get_by_role("button", name="Add…").click()
    avail = page.get_by_role("dialog", name="Available Sets")
    avail.get_by_role("checkbox").first.wait_for()
    labels = avail.get_by_role("checkbox").evaluate_all("els => els.map(e => e.parentElement.textContent)")
    assert len(labels) == 2 and all("ind" in t for t in labels), labels
    avail.get_by_role("checkbox", name=re.compile(r"ind1")).check()
    avail.get_by_role("button", name="Add").click()
    avail.wait_for(state="hidden")
    members = props.get_by_role("table", name="Members")
    members.get_by_role("cell", name="ind1", exact=True).wait_for()
    s, g = ApiSession(mgr.url), None
    g = s.call("GET", "/api/v1/hosts/h1/groups/g1")[1]
    assert len(g["members"]) == 1
    # Update to Shadow on the group: one call runs it for every member.
    props.get_by_role("button", name="Update to Shadow").click()
    page.get_by_role("status").filter(has_text="update to-shadow on g1: done").wait_for()
    assert props.locator("p.error").text_content() == ""
    members.get_by_role("button", name="Properties of member ind1").click()
    props.get_by_role("heading", name="Set Properties: ind1").wait_for()
    page.keyboard.press("Escape")
    props.wait_for(state="hidden")
    open_properties(page, page, "group g1")
    members = props.get_by_role("table", name="Members")
    members.get_by_role("button", name="Remove ind1").click()
    props.get_by_role("table", name="Members").get_by_role("cell", name="ind1", exact=True).wait_for(state="detached")
    assert s.call("GET", "/api/v1/hosts/h1/groups/g1")[1]["members"] == []
    props.get_by_role("button", name="Lock", exact=True).click()
    page.get_by_role("status").filter(has_text="lock on g1: done").wait_for()
    props.get_by_role("button", name="Unlock").click()
    page.get_by_role("status").filter(has_text="unlock on g1: done").wait_for()
    props.get_by_label("New group name").fill("g2")
    props.get_by_role("button", name="Rename group").click()
    page.get_by_role("button", name="Actions for group g2").wait_for()
    assert s.call("GET", "/api/v1/hosts/h1/groups/g1")[0] == 404
    # The open dialog follows the rename, and its actions reach the renamed group.
    props.get_by_role("heading", name="Group Properties: g2").wait_for(timeout=5000)
    assert props.get_by_label("New group name").input_value() == "g2"
    props.get_by_role("button", name="Lock", exact=True).click()
    page.get_by_role("status").filter(has_text="lock on g2: done").wait_for()
    assert props.locator("p.error").text_content() == ""
    shot(page, "2-groups")
    # For experts: the group row links to its raw CIM instance and associations.
    page.keyboard.press("Escape")
    props.wait_for(state="hidden")
    page.get_by_role("link", name="g2", exact=True).click()
    page.get_by_role("heading", name="DS_IIGroup g2 on h1").wait_for()
    raw = page.get_by_role("table")
    assert raw.get_by_role("row", name=re.compile(r"^groupName\s+g2$")).count() == 1
    status, body = s.call("GET", "/api/v1/hosts/h1/groups/g2/raw")
    assert status == 200 and ["groupName", "g2"] in body["properties"], body
    assert "DS_IIGroup" in body["path"], body
    assert s.call("GET", "/api/v1/hosts/h1/groups/nosuch/raw")[0] == 404
    shot(page, "2-group-raw")


def test_pushed_state_reaches_the_open_page_without_reload(browser_page, host1, mgr):
    page = browser_page
    m, sh, b = host1.volume("pm", MiB), host1.volume("ps", MiB), host1.volume("pb", MiB)
    assert iiadm(host1, "-e", "ind", m, sh, b, "pushed").returncode == 0
    open_console(page, mgr)
    row = row_of(page, "pushed")
    row.wait_for()
    t0 = time.time()
    assert iiadm(host1, "-s", sh).returncode == 0
    row.get_by_role("cell", name="suspended", exact=True).wait_for(timeout=2000)
    assert time.time() - t0 < 2.5
    m2, s2, b2 = host1.volume("pm2", MiB), host1.volume("ps2", MiB), host1.volume("pb2", MiB)
    assert iiadm(host1, "-e", "dep", m2, s2, b2, "appeared").returncode == 0
    row_of(page, "appeared").wait_for(timeout=5000)
    assert iiadm(host1, "-d", s2).returncode == 0
    row_of(page, "appeared").wait_for(state="detached", timeout=5000)
    # The row's action menu, by keyboard: Actions → Resume.
    row.get_by_role("button", name="Actions for pushed").focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name="Set actions")
    menu.get_by_role("menuitem", name="Resume").wait_for()
    for _ in range(6):  # Copy/Update x2, Abort, Suspend: Resume is the seventh item
        page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent") == "Resume"
    page.keyboard.press("Enter")
    row.get_by_role("cell", name="idle", exact=True).wait_for(timeout=3000)
    assert page.evaluate("window.__marker") == "kept", "the page was reloaded"
    shot(page, "3-pushed-state")


def test_bad_input_is_shown_and_changes_nothing(browser_page, host1, mgr):
    page = browser_page
    m, s, b = host1.volume("bm", 64 * MiB), host1.volume("bs", 32 * MiB), host1.volume("bb", MiB)
    before = iiadm(host1, "-l", "--json").stdout
    open_console(page, mgr)
    page.get_by_role("button", name="New Set").click()
    dlg = page.get_by_role("dialog", name="New Set")
    dlg.get_by_label("Independent").check()
    dlg.get_by_label("Master volume").select_option(m)
    dlg.get_by_label("Shadow volume").select_option(s)
    dlg.get_by_label("Bitmap volume").select_option(b)
    assert "smaller than the master" in dlg.locator("#newset-hints").inner_text()
    overflow = dlg.get_by_label("Overflow volume")
    assert not overflow.is_visible(), "no overflow pane for an independent set"
    dlg.get_by_label("Dependent", exact=True).check()
    overflow.wait_for()
    dlg.get_by_label("Independent").check()
    overflow.wait_for(state="hidden")
    dlg.get_by_role("button", name="Create").click()
    alert = dlg.get_by_role("alert")
    alert.filter(has_text="too small").wait_for()
    text = alert.inner_text()
    assert str(64 * MiB) in text and str(32 * MiB) in text, text
    assert dlg.is_visible()
    assert iiadm(host1, "-l", "--json").stdout == before
    shot(page, "4-bad-shadow")
    dlg.get_by_role("button", name="Cancel").click()
    # Copy options out of range: an inline error, nothing changes.
    assert iiadm(host1, "-e", "ind", host1.volume("om", MiB), host1.volume("os", MiB),
                 host1.volume("ob", MiB), "opts").returncode == 0
    row = row_of(page, "opts")
    open_properties(row, page, "opts")
    props = page.get_by_role("dialog", name="Properties")
    props.get_by_label("Delay (10 ms ticks, 2–10000)").fill("1")
    props.get_by_label("Units (chunks, 100–60000)").fill("50")
    props.get_by_role("button", name="Apply copy options").click()
    props.get_by_role("alert").filter(has_text="must be between 2 and 10000").wait_for()
    api = ApiSession(mgr.url)
    st = api.call("GET", "/api/v1/hosts/h1/sets/opts")[1]
    assert (st["copy_delay"], st["copy_units"]) != (1, 50)
    # The API refuses the same values on its own.
    r = api.call("POST", "/api/v1/hosts/h1/sets/opts/copy-parameters", {"delay": 1, "units": 50})
    assert r[0] == 400 and "outside 2-10000" in r[1]["error"]
    shot(page, "4-copy-options")
    # The page keeps working.
    props.get_by_role("button", name="Close").click()
    assert page.get_by_role("button", name="New Set").is_enabled()


def test_overflow_volumes_page_creates_and_deletes(browser_page, host1, mgr):
    page = browser_page
    ov = host1.volume("ov1", 16 * MiB)
    page.goto(mgr.url + "/overflows")
    page.get_by_role("heading", name="Overflow volumes").wait_for()
    page.evaluate("window.__marker = 'kept'")
    page.get_by_role("button", name="New Overflow Volume").click()
    dlg = page.get_by_role("dialog", name="New Overflow Volume")
    dlg.get_by_label("Volume").select_option(ov)
    dlg.get_by_role("button", name="Initialise").click()
    dlg.wait_for(state="hidden")
    table = page.get_by_role("table", name="Overflow volumes of every host")
    link = table.get_by_role("link", name=ov, exact=True)
    link.wait_for(timeout=5000)
    s = ApiSession(mgr.url)
    assert [o["path"] for o in s.call("GET", "/api/v1/hosts/h1/overflows")[1]] == [ov]
    # A volume too small to initialise: the host's error stays in the dialog.
    tiny = host1.volume("tiny", 32 * 1024)
    page.get_by_role("button", name="New Overflow Volume").click()
    dlg.get_by_label("Volume").select_option(tiny)
    dlg.get_by_role("button", name="Initialise").click()
    dlg.get_by_role("alert").filter(has_text="too small").wait_for()
    assert tiny in dlg.get_by_role("alert").inner_text()
    assert dlg.is_visible()
    shot(page, "overflow-create-refused")
    dlg.get_by_role("button", name="Cancel").click()
    assert [o["path"] for o in s.call("GET", "/api/v1/hosts/h1/overflows")[1]] == [ov]
    # A compact dependent set spills into it; deleting the volume then fails
    # with the host's error in the dialog, and the volume stays.
    m, sh, b = host1.volume("om", 4 * MiB), host1.volume("os", MiB), host1.volume("ob", MiB)
    status, body = s.call("POST", "/api/v1/hosts/h1/sets", {
        "type": "dependent", "master": m, "shadow": sh, "bitmap": b, "overflow": ov, "name": "spill"})
    assert status == 201, body
    table.get_by_role("cell", name=re.compile(r"1 : spill")).wait_for(timeout=5000)
    table.get_by_role("button", name=f"Delete overflow volume {ov} on h1").click()
    confirm = page.get_by_role("dialog", name=f"Delete the overflow volume {ov} on h1?")
    confirm.get_by_role("button", name="Yes").click()
    confirm.get_by_role("alert").filter(has_text="attached").wait_for()
    assert ov in confirm.get_by_role("alert").inner_text()
    shot(page, "overflow-delete-refused")
    confirm.get_by_role("button", name="No").click()
    assert [o["path"] for o in s.call("GET", "/api/v1/hosts/h1/overflows")[1]] == [ov]
    # For experts: the raw instance, with the attached set among its associations.
    link.click()
    page.get_by_role("heading", name=f"DS_IIOverflowVol {ov} on h1").wait_for()
    assert page.get_by_role("listitem").filter(has_text="DS_IISet").count() >= 1
    status, body = s.call("GET", f"/api/v1/hosts/h1/overflows/{seg(ov)}/raw")
    assert status == 200 and any("DS_IISet" in a for a in body["associated"]), body
    page.go_back()
    # Detached, it can go.
    assert s.call("POST", f"/api/v1/hosts/h1/sets/{seg(sh)}/detach")[0] == 200
    table.get_by_role("cell", name=re.compile(r"^0 :\s*$")).wait_for(timeout=5000)
    table.get_by_role("button", name=f"Delete overflow volume {ov} on h1").click()
    confirm.get_by_role("button", name="Yes").click()
    confirm.wait_for(state="hidden")
    link.wait_for(state="detached", timeout=5000)
    assert s.call("GET", "/api/v1/hosts/h1/overflows")[1] == []
    page.get_by_role("status").filter(has_text=f"overflow volume {ov} deleted").wait_for()
    shot(page, "overflow-page")


def test_indications_stop_and_rows_follow_by_polling(browser_page, host1, mgr):
    page = browser_page
    m = host1.volume("dm", 64 * MiB)
    fill(m, 64 * MiB)
    s, b = host1.volume("ds", 64 * MiB), host1.volume("db", MiB)
    open_console(page, mgr)
    host_line = page.locator("#sets section[data-host='h1'] caption")
    host_line.filter(has_text="● live").wait_for()
    # Indications stop: the host's subscription for iimgr's listener goes away.
    interop = host1.conn("interop")
    subs = interop.EnumerateInstanceNames("CIM_IndicationSubscription")
    assert subs, "iimgr subscribed to the host"
    for p in subs:
        interop.DeleteInstance(p)
    api = ApiSession(mgr.url)
    status, body = api.call("POST", "/api/v1/hosts/h1/sets", {
        "type": "independent", "master": m, "shadow": s, "bitmap": b, "name": "polled",
        "copyDelay": 60, "copyUnits": 100})
    assert status == 201, body
    row = row_of(page, "polled")
    row.wait_for(timeout=5000)
    host_line.filter(has_text="live updates degraded").wait_for(timeout=8000)
    seen, flaps = set(), 0
    deadline = time.time() + 90
    while time.time() < deadline:
        cells = row.get_by_role("cell").all_inner_texts()
        if len(cells) > 6:
            if cells[3] == "idle" and cells[5] == "100 %":
                break
            seen.add(cells[6].split("%")[0].strip())
        if "live updates degraded" not in host_line.inner_text():
            flaps += 1
        time.sleep(0.2)
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[3] == "idle" and cells[5] == "100 %", cells
    assert len(seen) >= 3, f"rows kept updating by polling: {seen}"
    assert flaps == 0, "the host looked live again without indications"
    assert "live updates degraded" in host_line.inner_text()
    assert page.evaluate("window.__marker") == "kept"
    shot(page, "degraded-polling")


def test_two_hosts_move_kill_restart_and_announce(browser_page, tmp_path):
    page = browser_page
    shared = tmp_path / "shared"
    shared.mkdir()
    h1 = PinnedCimomd(tmp_path / "h1", ["--volume-root", str(shared)])
    h2 = PinnedCimomd(tmp_path / "h2", ["--volume-root", str(shared)])
    h3 = None
    mgr = Iimgr(tmp_path / "mgr", [("h1", h1.url, ["prod"]), ("h2", h2.url, ["lab"])])
    try:
        mgr.wait_host_live("h1")
        mgr.wait_host_live("h2")
        m = h1.volume("mm", MiB)
        fill(m, MiB)
        sh = str(shared / "moved-shadow")
        open(sh, "wb").truncate(MiB)
        bmp2 = str(shared / "h2-bitmap")
        open(bmp2, "wb").truncate(MiB)
        assert iiadm(h1, "-e", "ind", m, sh, h1.volume("mb", MiB), "mover").returncode == 0
        assert iiadm(h1, "-w", sh).returncode == 0
        assert iiadm(h2, "-e", "dep", h2.volume("x", MiB), h2.volume("y", MiB), h2.volume("z", MiB), "other").returncode == 0
        open_console(page, mgr)
        host_col = row_of(page, "other").get_by_role("cell").first
        assert host_col.inner_text() == "h2"
        page.get_by_label("Host filter").select_option("host:h1")
        assert not row_of(page, "other").is_visible() and row_of(page, "mover").is_visible()
        page.get_by_label("Host filter").select_option("tag:lab")
        assert row_of(page, "other").is_visible() and not row_of(page, "mover").is_visible()
        page.get_by_label("Host filter").select_option("")
        # Export on h1, import on h2, in one dialog.
        open_properties(row_of(page, "mover"), page, "mover")
        props = page.get_by_role("dialog", name="Properties")
        props.get_by_role("tab", name="Config").click()
        props.get_by_label("Target host").select_option("h2")
        props.get_by_label("Bitmap on the target").fill(bmp2)
        props.get_by_role("button", name="Export and import").click()
        page.get_by_role("status").filter(has_text="exported to h2").wait_for()
        props.get_by_role("button", name="Close").click()
        h1row = row_of(page, "mover")
        h1row.get_by_role("cell", name="exported", exact=True).wait_for(timeout=5000)
        h2row = page.locator("section[data-host='h2']").get_by_role("row").filter(has_text="imported")
        h2row.first.wait_for(timeout=5000)
        # Join back: h2 releases the import, h1 joins with h2's bitmap.
        assert iiadm(h2, "-d", sh).returncode == 0
        h2row.first.wait_for(state="detached", timeout=5000)
        open_properties(row_of(page, "mover"), page, "mover")
        props.get_by_role("tab", name="Config").click()
        props.get_by_label("Bitmap for Join").fill(bmp2)
        props.get_by_role("button", name="Join").click()
        page.get_by_role("status").filter(has_text="join: done").wait_for()
        props.get_by_role("button", name="Close").click()
        h1row.get_by_role("cell", name="exported", exact=True).wait_for(state="detached", timeout=5000)
        # Kill h2: its rows grey out within 5 s; restart: live again.
        h2.proc.send_signal(signal.SIGKILL)
        h2.proc.wait()
        h2.log.close()
        t0 = time.time()
        h2body = page.locator("section[data-host='h2']")
        h2body.get_by_text(re.compile("unreachable since")).wait_for(timeout=5000)
        assert time.time() - t0 <= 5.5
        assert "down" in h2body.get_attribute("class")
        assert row_of(page, "other").is_visible(), "rows stay, greyed"
        shot(page, "5-host-down")
        h2.start()
        h2body.get_by_text("● live").wait_for(timeout=15000)
        # A third host registers itself.
        h3 = Cimomd(tmp_path / "h3", ["--announce", mgr.url, "--announce-token-file", str(mgr.token_file),
                                      "--announce-name", "gamma", "--announce-interval", "1"])
        page.locator("section[data-host='gamma']").get_by_text("registered").wait_for(timeout=15000)
        assert page.evaluate("window.__marker") == "kept"
        shot(page, "5-two-hosts")
    finally:
        for h in (h3, h2, h1):
            if h:
                h.stop()
        mgr.stop()


def test_access_login_csrf_limits_and_escaping(browser_page, host1, tmp_path):
    page = browser_page
    line = subprocess.run([CIMOMD, "hash-password", "admin"], input="pa55word\n",
                          capture_output=True, text=True, timeout=60, check=True).stdout
    users = tmp_path / "users"
    users.write_text(line)
    mgr = Iimgr(tmp_path / "mgr", [("h1", host1.url, [])], users=users)
    try:
        page.goto(mgr.url + "/")
        page.get_by_role("heading", name="Log in").wait_for()
        page.get_by_label("User").fill("admin")
        page.get_by_label("Password").fill("wrong")
        with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as resp:
            page.get_by_role("button", name="Log in").click()
        assert resp.value.status == 401
        page.get_by_role("alert").filter(has_text="Wrong user name or password").wait_for()
        page.get_by_label("User").fill("admin")
        page.get_by_label("Password").fill("pa55word")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Sets and groups").wait_for()
        cookie = [c for c in page.context.cookies() if c["name"] == "iimgr_session"][0]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        # A POST without the CSRF token: 403; with it: accepted.
        r = page.request.post(mgr.url + "/api/v1/hosts/h1/groups", data=json.dumps({"name": "x"}),
                              headers={"Content-Type": "application/json"})
        assert r.status == 403
        csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
        r = page.request.post(mgr.url + "/api/v1/hosts/h1/groups", data=json.dumps({"name": "x"}),
                              headers={"Content-Type": "application/json", "X-CSRF-Token": "f" * 64})
        assert r.status == 403, "a forged token"
        hdr = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
        assert page.request.get(mgr.url + "/api/v1/hosts/nope/sets").status == 404
        assert page.request.get(mgr.url + "/api/v1/hosts/h1/sets/nope").status == 404
        big = page.request.post(mgr.url + "/api/v1/hosts/h1/groups", data="x" * 200000, headers=hdr)
        assert big.status == 413
        # Without a session at all: 401 for the API.
        assert http(mgr.url + "/api/v1/hosts")[0] == 401
        # A bad announce token: 401.
        bad = http(mgr.url + "/api/v1/announce", method="POST",
                   body={"name": "evil", "url": "http://127.0.0.1:1", "version": "1"},
                   headers={"Authorization": "Bearer wrong"})
        assert bad[0] == 401
        # A set named <script> renders as text.
        name = "<script>window.__pwned=1</script>"
        r = page.request.post(mgr.url + "/api/v1/hosts/h1/sets", headers=hdr, data=json.dumps({
            "type": "dependent", "master": host1.volume("xm", MiB), "shadow": host1.volume("xs", MiB),
            "bitmap": host1.volume("xb", MiB), "name": name}))
        assert r.status == 201, r.text()
        page.get_by_role("link", name=name).wait_for()
        page.reload()
        page.get_by_role("link", name=name).wait_for()
        assert page.evaluate("window.__pwned") is None
        shot(page, "6-access")
    finally:
        mgr.stop()


def bad_host(kind):
    """A loopback server that hangs (accepts, never answers) or answers garbage."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            held.append(c)
            if kind == "garbage":
                try:
                    c.recv(65536)
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<garbage>")
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.getsockname()[1]}"


def test_a_hanging_or_garbage_host_costs_only_its_rows(browser_page, host1, tmp_path):
    page = browser_page
    hang, hang_url = bad_host("hang")
    junk, junk_url = bad_host("garbage")
    mgr = Iimgr(tmp_path / "mgr", [("good", host1.url, []), ("hangs", hang_url, []), ("junk", junk_url, [])],
                toml="host-timeout = 2\n")
    try:
        mgr.wait_host_live("good")
        assert iiadm(host1, "-e", "dep", host1.volume("gm", MiB), host1.volume("gs", MiB),
                     host1.volume("gb", MiB), "fine").returncode == 0
        t0 = time.time()
        open_console(page, mgr)
        assert time.time() - t0 < 5, "the page does not wait for the bad hosts"
        row_of(page, "fine").wait_for(timeout=5000)
        for name in ("hangs", "junk"):
            page.locator(f"section[data-host='{name}']").get_by_text(re.compile("unreachable since")).wait_for(timeout=10000)
        # The good host stays live: a change still arrives at once.
        assert iiadm(host1, "-s", "fine").returncode == 0
        row_of(page, "fine").get_by_role("cell", name="suspended", exact=True).wait_for(timeout=3000)
        api = ApiSession(mgr.url)
        st, body = api.call("GET", "/api/v1/hosts/hangs/volumes")
        assert st == 504, (st, body)
        assert api.call("GET", "/api/v1/hosts/good/groups/nope")[0] == 404
        shot(page, "7-bad-hosts")
    finally:
        mgr.stop()
        hang.close()
        junk.close()


def test_tls_cookie_is_secure_and_open_listen_needs_login(host1, tmp_path):
    import ssl
    import urllib.error
    import urllib.request
    # A test CA and a server certificate for 127.0.0.1 signed by it.
    key, cert, ca, ca_key = (tmp_path / n for n in ("key.pem", "cert.pem", "ca.pem", "ca.key"))
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    for cmd in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1",
         "-subj", "/CN=iimgr test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", tmp_path / "req.csr",
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", tmp_path / "req.csr", "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "1", "-extfile", ext],
    ):
        subprocess.run(["openssl", *map(str, cmd)], check=True, capture_output=True, timeout=60)
    line = subprocess.run([CIMOMD, "hash-password", "admin"], input="pa55word\n",
                          capture_output=True, text=True, timeout=60, check=True).stdout
    users = tmp_path / "users"
    users.write_text(line)
    from conftest import free_ports
    port = free_ports(1)[0]
    mgr = Iimgr(tmp_path / "mgr", [("h1", host1.url, [])], users=users,
                extra_args=["--https-listen", f"127.0.0.1:{port}", "--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        ctx.check_hostname = False
        req = urllib.request.Request(f"https://127.0.0.1:{port}/login", data=b"user=admin&password=pa55word",
                                     method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"})

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None

        opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=ctx))
        try:
            opener.open(req, timeout=30)
            raise AssertionError("expected a 303 to /")
        except urllib.error.HTTPError as e:
            assert e.code == 303
            c = e.headers["Set-Cookie"]
        assert "HttpOnly" in c and "SameSite=Strict" in c and "Secure" in c, c
        # A host registers over HTTPS, verifying iimgr's certificate.
        h = Cimomd(tmp_path / "tlshost", ["--announce", f"https://127.0.0.1:{port}", "--announce-token-file",
                                          str(mgr.token_file), "--announce-ca-file", str(ca),
                                          "--announce-name", "tlshost", "--announce-interval", "1"])
        try:
            deadline = time.time() + 15
            while "registered with the management server" not in h.log_text() and time.time() < deadline:
                time.sleep(0.1)
            assert "registered with the management server" in h.log_text(), h.log_text()
            assert "tlshost" in mgr.log_path.read_text()
        finally:
            h.stop()
    finally:
        mgr.stop()
    # Without --users, a non-loopback address needs --insecure.
    r = subprocess.run([IIMGR, "--listen", "0.0.0.0:0"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "loopback" in r.stderr, r.stderr
