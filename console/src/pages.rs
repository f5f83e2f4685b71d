//! The console's server-rendered HTML (maud escapes every interpolated
//! value, so a set named `<script>` renders as text), the embedded assets,
//! and the row diffs streamed to browsers ([`diff_events`]).
//!
//! Pages: `/` (all sets and groups of all hosts), `/overflows`, `/raw/{h}/{set}`,
//! `/raw/{h}/group/{g}`, `/raw/{h}/overflow/{path}` (read-only CIM instance
//! and associations), `/login`. Fragments the script
//! swaps in: `/ui/table`, `/ui/overflows`, `/ui/hosts/{h}/volume-options`,
//! `/ui/hosts/{h}/sets/{s}/properties`, `/ui/hosts/{h}/groups/{g}/properties`,
//! `/ui/hosts/{h}/groups/{g}/available`.
//!
//! Element ids: a host's `<section>` is `h-HEX(host)`, a set row
//! `s-HEX(host)-HEX(shadow)`, a group row `g-HEX(host)-HEX(group)`: hex keeps
//! any name valid in an id.

use crate::hosts::{GroupRow, HostView};
use crate::server::{full, App, Body, Req};
use client::SetInfo;
use http::{Method, Response};
use maud::{html, Markup, DOCTYPE};
use std::sync::Arc;

const CSS: &str = include_str!("../assets/style.css");
const JS: &str = include_str!("../assets/app.js");

/// Serves `/assets/style.css` and `/assets/app.js`.
pub fn asset(path: &str) -> Option<Response<Body>> {
    let (ct, body) = match path {
        "/assets/style.css" => ("text/css; charset=utf-8", CSS),
        "/assets/app.js" => ("text/javascript; charset=utf-8", JS),
        _ => return None,
    };
    let mut r = full(200, ct, body);
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    Some(r)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Id of a host's table body.
pub fn host_id(host: &str) -> String {
    format!("h-{}", hex(host))
}
/// Id of a set row.
pub fn set_id(host: &str, shadow: &str) -> String {
    format!("s-{}-{}", hex(host), hex(shadow))
}
/// Id of a group row.
pub fn group_id(host: &str, group: &str) -> String {
    format!("g-{}-{}", hex(host), hex(group))
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Bytes as MiB/GiB text.
pub fn size(b: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let m = b as f64 / MIB;
    if m >= 1024.0 {
        format!("{:.1} GiB", m / 1024.0)
    } else if m >= 1.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{} KiB", b / 1024)
    }
}

fn pct(p: f32) -> String {
    format!("{:.0} %", p.clamp(0.0, 100.0))
}

fn running(s: &SetInfo) -> bool {
    s.state == "copying" || s.state == "updating"
}

/// A progress bar whose value is also text.
fn bar(label: &str, p: f32) -> Markup {
    let v = p.clamp(0.0, 100.0);
    html! {
        progress max="100" value=(format!("{v:.0}")) aria-label=(label) { (pct(v)) }
        " " span.pv { (pct(v)) }
    }
}

fn host_status(v: &HostView) -> Markup {
    html! {
        @if !v.reachable {
            span.badge.down {
                "⚠ unreachable since "
                (v.unreachable_since.map(utc).unwrap_or_default())
            }
            @if let Some(e) = &v.error { " " span.why { "(" (e) ")" } }
        } @else if v.degraded {
            span.badge.warn { "◐ live updates degraded (polling)" }
        } @else {
            span.badge.ok { "● live" }
        }
        @if v.announced { " " span.tag { "registered" } }
        @if let Some(ver) = &v.version { " " span.tag { "cimomd " (ver) } }
        @for t in &v.tags { " " span.tag { (t) } }
    }
}

/// One set row. Its one button opens the action menu (Properties is in it):
/// a second button on each of a thousand rows costs the first paint more
/// than all the row's text does.
pub fn set_row(v: &HostView, s: &SetInfo, member: bool) -> Markup {
    let id = set_id(&v.name, &s.shadow);
    html! {
        tr id=(id) .set .member[member] .busy[running(s)]
            data-host=(v.name) data-set=(s.shadow) data-group=[s.group.as_ref()] data-type=(s.set_type)
            data-state=(s.state) {
            td { (v.name) }
            td.name {
                @if member { span.indent aria-hidden="true" { "└ " } }
                a href=(format!("/raw/{}/{}", enc(&v.name), enc(&s.shadow))) title=(format!("shadow {}", s.shadow)) { (s.name) }
            }
            td { (s.set_type) }
            td.state { (s.state) }
            td { (s.status) }
            td { (pct(s.percent_synchronized)) }
            td.progress {
                @if running(s) { (bar(&format!("{} completed", s.name), s.percent_completed)) }
                @else { (pct(s.percent_completed)) }
            }
            td { (s.overflow.as_deref().unwrap_or("—")) }
            td.actions {
                button type="button" .menu-btn aria-haspopup="menu" aria-label=(format!("Actions for {}", s.name)) { "Actions ▾" }
            }
        }
    }
}

fn group_progress(v: &HostView, g: &GroupRow) -> (f32, bool) {
    let members: Vec<&SetInfo> = v
        .sets
        .iter()
        .filter(|s| s.group.as_deref() == Some(g.name.as_str()))
        .collect();
    let busy = members.iter().any(|s| running(s));
    if members.is_empty() {
        return (100.0, false);
    }
    let sum: f32 = members.iter().map(|s| s.percent_completed).sum();
    (sum / members.len() as f32, busy)
}

/// One group row.
pub fn group_row(v: &HostView, g: &GroupRow) -> Markup {
    let (p, busy) = group_progress(v, g);
    let states: std::collections::BTreeSet<&str> = v
        .sets
        .iter()
        .filter(|s| s.group.as_deref() == Some(g.name.as_str()))
        .map(|s| s.state.as_str())
        .collect();
    html! {
        tr id=(group_id(&v.name, &g.name)) .group .busy[busy] data-host=(v.name) data-groupname=(g.name) data-type=(g.group_type) {
            td { (v.name) }
            td.name {
                button type="button" .expand aria-expanded="true" aria-label=(format!("Members of group {}", g.name)) { "▾" }
                " " a href=(raw_href(&v.name, "group", &g.name)) title=(format!("group {}", g.name)) { strong { (g.name) } }
            }
            td { "group (" (g.group_type) ")" }
            td.state { (states.into_iter().collect::<Vec<_>>().join(", ")) }
            td { (g.members.len()) " member(s)" }
            td { "" }
            td.progress { @if busy { (bar(&format!("group {} completed", g.name), p)) } @else { (pct(p)) } }
            td { "" }
            td.actions {
                button type="button" .menu-btn aria-haspopup="menu" aria-label=(format!("Actions for group {}", g.name)) { "Actions ▾" }
            }
        }
    }
}

/// The column headers of every host's table; fixed widths (style.css) keep
/// the hosts' tables aligned and let the browser skip measuring cells.
fn table_head() -> Markup {
    html! {
        colgroup {
            @for c in ["c-host", "c-name", "c-type", "c-state", "c-status", "c-sync", "c-done", "c-ovl", "c-act"] {
                col class=(c);
            }
        }
        thead { tr {
            th scope="col" { "Host" } th scope="col" { "Name" } th scope="col" { "Type" }
            th scope="col" { "State" } th scope="col" { "Status" } th scope="col" { "% synchronized" }
            th scope="col" { "% completed" } th scope="col" { "Overflow" } th scope="col" { "Actions" }
        } }
    }
}

/// A host's `<section>`: one table whose caption is the host's status line,
/// then groups with members, then the other sets. A section per host (not a
/// `<tbody>`) because `content-visibility: auto` works on it: the browser
/// lays out only the hosts on screen, which keeps the first paint of a
/// thousand rows quick. `data-rows` sizes the section while it is skipped.
pub fn host_body(v: &HostView) -> Markup {
    html! {
        section id=(host_id(&v.name)) .host .down[!v.reachable] data-host=(v.name) data-tags=(v.tags.join(" "))
            data-rows=(v.sets.len() + v.groups.len()) {
            table.hosttable {
                caption { strong { (v.name) } " " span.url { (v.url) } " " (host_status(v)) }
                (table_head())
                tbody {
                    @for g in &v.groups {
                        (group_row(v, g))
                        @for s in v.sets.iter().filter(|s| s.group.as_deref() == Some(g.name.as_str())) {
                            (set_row(v, s, true))
                        }
                    }
                    @for s in v.sets.iter().filter(|s| s.group.as_ref().is_none_or(|g| v.group(g).is_none())) {
                        (set_row(v, s, false))
                    }
                }
            }
        }
    }
}

/// The sets and groups of every host, a table each (also the `/ui/table`
/// fragment).
pub fn table(hosts: &[HostView]) -> Markup {
    html! {
        div #sets { @for v in hosts { (host_body(v)) } }
    }
}

/// The JSON of one SSE event.
fn ev(kind: &'static str, id: String, html: Option<Markup>) -> (&'static str, String) {
    let mut o = serde_json::json!({"id": id});
    if let Some(h) = html {
        o["html"] = serde_json::Value::String(h.into_string());
    }
    (kind, o.to_string())
}

/// The events that turn the browser's copy of `old` into `new`.
pub fn diff_events(old: &HostView, new: &HostView) -> Vec<(&'static str, String)> {
    let structure = |v: &HostView| {
        (
            v.sets
                .iter()
                .map(|s| (s.shadow.clone(), s.group.clone()))
                .collect::<Vec<_>>(),
            v.groups.clone(),
            v.reachable,
            v.degraded,
            v.unreachable_since,
            v.tags.clone(),
            v.version.clone(),
        )
    };
    if structure(old) != structure(new) {
        return vec![ev("rows", host_id(&new.name), Some(host_body(new)))];
    }
    let mut out = Vec::new();
    let mut groups = std::collections::BTreeSet::new();
    for s in &new.sets {
        if old.sets.iter().find(|o| o.shadow == s.shadow) != Some(s) {
            let member = s.group.as_ref().is_some_and(|g| new.group(g).is_some());
            out.push(ev(
                "row",
                set_id(&new.name, &s.shadow),
                Some(set_row(new, s, member)),
            ));
            if let Some(g) = &s.group {
                groups.insert(g.clone());
            }
        }
    }
    for g in groups {
        if let Some(gr) = new.group(&g) {
            out.push(ev("row", group_id(&new.name, &g), Some(group_row(new, gr))));
        }
    }
    if old.overflows != new.overflows {
        out.push(ev("overflows", host_id(&new.name), None));
    }
    out
}

/// Percent-encodes a path segment.
pub fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn layout(title: &str, csrf: Option<&str>, user: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(c) = csrf { meta name="csrf-token" content=(c); }
                title { (title) " — Instant Image" }
                link rel="stylesheet" href="/assets/style.css";
                script type="module" src="/assets/app.js" {}
            }
            body {
                header {
                    strong { "Instant Image" }
                    nav aria-label="Main" {
                        a href="/" { "Sets" } " " a href="/overflows" { "Overflow volumes" }
                        " " a href="/api/v1/openapi.json" { "API" }
                    }
                    @if let (Some(u), Some(c)) = (user, csrf) {
                        form method="post" action="/logout" .logout {
                            input type="hidden" name="csrf" value=(c);
                            span { (u) } " " button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The login page.
pub fn login_page(error: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        None,
        html! {
            h1 { "Log in" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/login" .login {
                label { "User " input name="user" autocomplete="username" required autofocus; }
                label { "Password " input name="password" type="password" autocomplete="current-password" required; }
                button type="submit" { "Log in" }
            }
        },
    )
}

/// The four copy/update buttons and Abort (menu items when `role` is given).
fn copy_buttons(role: Option<&str>) -> Markup {
    const OPS: [(&str, Option<&str>, &str); 5] = [
        ("copy", Some("to-shadow"), "Copy to Shadow"),
        ("update", Some("to-shadow"), "Update to Shadow"),
        ("copy", Some("to-master"), "Copy to Master"),
        ("update", Some("to-master"), "Update to Master"),
        ("abort", None, "Abort"),
    ];
    html! {
        @for (action, dir, label) in OPS {
            button type="button" role=[role] data-action=(action) data-dir=[dir] { (label) }
        }
    }
}

/// The Yes/No question (deletes, to-master copies); a failed delete's
/// error stays in it.
fn confirm_dialog() -> Markup {
    html! {
        dialog #confirm aria-labelledby="confirm-text" {
            form method="dialog" {
                p #confirm-text {}
                p.error role="alert" {}
                div.buttons { button value="yes" { "Yes" } " " button value="no" autofocus { "No" } }
            }
        }
    }
}

fn dialogs() -> Markup {
    html! {
        dialog #newset aria-labelledby="newset-title" {
            form #newset-form method="dialog" novalidate {
                h2 #newset-title { "New Set" }
                label { "Host " select name="host" .host-pick required {} }
                fieldset { legend { "Type" }
                    label { input type="radio" name="type" value="independent" checked; " Independent" }
                    label { input type="radio" name="type" value="dependent"; " Dependent" }
                }
                label { "Name " input name="name" placeholder="(the shadow path)" maxlength="200"; }
                label { "Master volume " select name="master" .vol required {} }
                label { "Shadow volume " select name="shadow" .vol required {} }
                label { "Bitmap volume " select name="bitmap" .vol required {} }
                div #overflow-pane hidden { label { "Overflow volume " select name="overflow" .vol {} } }
                p #newset-hints .hint aria-live="polite" {}
                details { summary { "Copy options" }
                    label { "Delay (10 ms ticks) " input name="copyDelay" type="number" min="2" max="10000"; }
                    label { "Units (chunks per burst) " input name="copyUnits" type="number" min="100" max="60000"; }
                }
                p.error role="alert" {}
                div.buttons { button type="submit" value="ok" { "Create" } " " button type="button" .cancel { "Cancel" } }
            }
        }
        dialog #newgroup aria-labelledby="newgroup-title" {
            form #newgroup-form method="dialog" novalidate {
                h2 #newgroup-title { "New Group" }
                label { "Host " select name="host" .host-pick required {} }
                label { "Name " input name="name" required maxlength="200"; }
                fieldset { legend { "Type" }
                    label { input type="radio" name="type" value="independent" checked; " Independent" }
                    label { input type="radio" name="type" value="dependent"; " Dependent" }
                }
                p.error role="alert" {}
                div.buttons { button type="submit" value="ok" { "Create" } " " button type="button" .cancel { "Cancel" } }
            }
        }
        dialog #props aria-label="Properties" { div.content {} }
        dialog #available aria-labelledby="available-title" { div.content {} }
        (confirm_dialog())
        div #menu role="menu" hidden aria-label="Set actions" {
            (copy_buttons(Some("menuitem")))
            button role="menuitem" data-action="suspend" { "Suspend" }
            button role="menuitem" data-action="resume" { "Resume" }
            button role="menuitem" data-action="delete" { "Delete" }
            button role="menuitem" data-action="properties" { "Properties" }
        }
        p #toast role="status" aria-live="polite" {}
    }
}

fn main_page(hosts: &[HostView], req: &Req, event_id: u64) -> Markup {
    let mut tags: Vec<&String> = hosts.iter().flat_map(|h| h.tags.iter()).collect();
    tags.sort();
    tags.dedup();
    layout(
        "Sets",
        Some(&req.session.csrf),
        req.session.user.as_deref(),
        html! {
            h1 { "Sets and groups" }
            div.toolbar {
                label { "Show " select #filter aria-label="Host filter" {
                    option value="" { "all hosts" }
                    @for h in hosts { option value=(format!("host:{}", h.name)) { "host " (h.name) } }
                    @for t in &tags { option value=(format!("tag:{t}")) { "tag " (t) } }
                } }
                " " button type="button" #new-set { "New Set" }
                " " button type="button" #new-group { "New Group" }
            }
            div #table data-since=(event_id) { (table(hosts)) }
            (dialogs())
        },
    )
}

/// The overflow volumes of every host (also the `/ui/overflows` fragment).
pub fn overflows_table(hosts: &[HostView]) -> Markup {
    html! {
        table #ovf-table {
            caption { "Overflow volumes of every host" }
            thead { tr { th scope="col" { "Host" } th scope="col" { "Path" } th scope="col" { "Capacity" }
                th scope="col" { "Used" } th scope="col" { "Attached sets" } th scope="col" { "Actions" } } }
            @for h in hosts { tbody .down[!h.reachable] data-host=(h.name) {
                @for o in &h.overflows { tr {
                    td { (h.name) }
                    td { a href=(raw_href(&h.name, "overflow", &o.path)) title="raw CIM instance" { (o.path) } }
                    td { (size(o.capacity)) } td { (size(o.used_bytes)) }
                    td { (o.attached_sets) " : "
                        (h.sets.iter().filter(|s| s.overflow.as_deref() == Some(o.path.as_str())).map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")) }
                    td { button type="button" data-delovf=(o.path) aria-label=(format!("Delete overflow volume {} on {}", o.path, h.name)) { "Delete" } }
                } }
            } }
        }
    }
}

fn overflows_page(hosts: &[HostView], req: &Req, event_id: u64) -> Markup {
    layout(
        "Overflow volumes",
        Some(&req.session.csrf),
        req.session.user.as_deref(),
        html! {
            h1 { "Overflow volumes" }
            div.toolbar { button type="button" #new-ovf { "New Overflow Volume" } }
            div #ovf data-since=(event_id) { (overflows_table(hosts)) }
            dialog #newovf aria-labelledby="newovf-title" {
                form #newovf-form method="dialog" novalidate {
                    h2 #newovf-title { "New Overflow Volume" }
                    label { "Host " select name="host" .host-pick required {
                        @for h in hosts.iter().filter(|h| h.reachable) { option value=(h.name) { (h.name) } }
                    } }
                    label { "Volume " select name="path" .vol required {} }
                    p.hint { "Initialising the volume overwrites it." }
                    p.error role="alert" {}
                    div.buttons { button type="submit" { "Initialise" } " " button type="button" .cancel { "Cancel" } }
                }
            }
            (confirm_dialog())
            p #toast role="status" aria-live="polite" {}
        },
    )
}

fn not_found(what: String) -> Response<Body> {
    full(
        404,
        "text/html; charset=utf-8",
        layout(
            "Not found",
            None,
            None,
            html! { h1 { "Not found" } p { (what) } },
        )
        .into_string(),
    )
}

fn page(m: Markup) -> Response<Body> {
    full(200, "text/html; charset=utf-8", m.into_string())
}

fn volume_options(vols: &[client::VolumeInfo]) -> Markup {
    html! {
        option value="" { "— choose —" }
        @for v in vols {
            @let why = if v.used_by.is_empty() { None } else { Some(format!("in use: {}", v.used_by)) };
            option value=(v.path) data-capacity=(v.capacity) disabled[why.is_some()] {
                (v.path) " — " (size(v.capacity))
                @if let Some(w) = &why { " — " (w) }
            }
        }
    }
}

fn set_properties(v: &HostView, s: &SetInfo, hosts: &[HostView]) -> Markup {
    let base = format!("/api/v1/hosts/{}/sets/{}", enc(&v.name), enc(&s.shadow));
    html! {
        div.propsdlg data-base=(base) data-row=(set_id(&v.name, &s.shadow)) data-name=(s.name) {
            h2.live { "Set Properties: " (s.name) }
            div role="tablist" aria-label="Set properties" {
                button role="tab" #tab-status aria-selected="true" aria-controls="pane-status" { "Status" }
                button role="tab" #tab-config aria-selected="false" aria-controls="pane-config" tabindex="-1" { "Config" }
            }
            section #pane-status role="tabpanel" aria-labelledby="tab-status" {
                dl.live {
                    dt { "State" } dd.state { (s.state) }
                    dt { "Status" } dd { (s.status) }
                    dt { "% synchronized" } dd { (pct(s.percent_synchronized)) }
                    dt { "Operation" } dd { @if running(s) { (s.state) " " } (bar(&format!("{} completed", s.name), s.percent_completed)) }
                }
                div.buttons {
                    (copy_buttons(None))
                }
                form.copyopts data-post="copy-parameters" novalidate {
                    h3 { "Copy Options" }
                    label { "Delay (10 ms ticks, 2–10000) " input name="delay" type="number" min="2" max="10000" required value=(s.copy_delay); }
                    label { "Units (chunks, 100–60000) " input name="units" type="number" min="100" max="60000" required value=(s.copy_units); }
                    button type="submit" { "Apply copy options" }
                }
            }
            section #pane-config role="tabpanel" aria-labelledby="tab-config" hidden {
                form data-post="rename" novalidate {
                    label { "Name " input name="name" required maxlength="200" value=(s.name); }
                    button type="submit" { "Rename" }
                }
                table { thead { tr { th scope="col" { "Volume" } th scope="col" { "Path" } th scope="col" { "Capacity" } } }
                    tbody {
                        tr { td { "master" } td { (s.master) } td { (size(s.master_capacity)) } }
                        tr { td { "shadow (" (s.set_type) ")" } td { (s.shadow) } td { (size(s.shadow_capacity)) } }
                        tr { td { "bitmap" } td { (s.bitmap) } td { (size(s.bitmap_capacity)) } }
                        tr { td { "overflow" } td { (s.overflow.as_deref().unwrap_or("—")) } td { "" } }
                    } }
                div.buttons {
                    button type="button" data-action="export" { "Export" }
                    button type="button" data-action="detach" { "Detach overflow" }
                }
                form data-post="join" { label { "Bitmap for Join " input name="bitmap" placeholder="(none)"; } button type="submit" { "Join" } }
                form data-post="attach" novalidate {
                    label { "Overflow volume " select name="overflow" required {
                        option value="" { "— choose —" }
                        @for o in &v.overflows {
                            option value=(o.path) { (o.path) " — " (size(o.capacity)) ", " (o.attached_sets) " attached" }
                        }
                    } }
                    button type="submit" { "Attach overflow" }
                }
                form.move data-move=(v.name) data-shadow=(s.shadow) novalidate {
                    h3 { "Export → Import on another host" }
                    label { "Target host " select name="to" required {
                        @for h in hosts.iter().filter(|h| h.name != v.name) { option value=(h.name) { (h.name) } }
                    } }
                    label { "Bitmap on the target " input name="bitmap" required; }
                    button type="submit" { "Export and import" }
                }
            }
            p.error role="alert" {}
            div.buttons { button type="button" .cancel { "Close" } }
        }
    }
}

fn group_properties(v: &HostView, g: &GroupRow) -> Markup {
    let base = format!("/api/v1/hosts/{}/groups/{}", enc(&v.name), enc(&g.name));
    let (p, _) = group_progress(v, g);
    html! {
        div.propsdlg data-base=(base) data-row=(group_id(&v.name, &g.name)) data-host=(v.name) data-name=(g.name) {
            h2 { "Group Properties: " (g.name) }
            p { "Type: " (g.group_type) }
            p.live { "Progress: " (bar(&format!("group {} completed", g.name), p)) }
            table.live { caption { "Members" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "State" } th scope="col" { "Status" }
                    th scope="col" { "% synchronized" } th scope="col" { "Overflow" } th scope="col" { "" } } }
                tbody { @for s in v.sets.iter().filter(|s| s.group.as_deref() == Some(g.name.as_str())) {
                    tr data-set=(s.shadow) {
                        td { (s.name) } td { (s.state) } td { (s.status) } td { (pct(s.percent_synchronized)) }
                        td { (s.overflow.as_deref().unwrap_or("—")) }
                        td {
                            button type="button" data-action="member" data-set=(s.shadow) aria-label=(format!("Properties of member {}", s.name)) { "Properties" }
                            " "
                            button type="button" data-action="remove" data-set=(s.shadow) aria-label=(format!("Remove {}", s.name)) { "Remove" }
                        }
                    }
                } }
            }
            div.buttons {
                button type="button" data-action="add" { "Add…" }
                (copy_buttons(None))
                button type="button" data-action="lock" { "Lock" }
                button type="button" data-action="unlock" { "Unlock" }
                button type="button" data-action="delete" { "Delete group" }
            }
            form data-post="rename" novalidate {
                label { "New group name " input name="name" required maxlength="200" value=(g.name); }
                button type="submit" { "Rename group" }
            }
            p.error role="alert" {}
            div.buttons { button type="button" .cancel { "Close" } }
        }
    }
}

fn available_sets(v: &HostView, g: &GroupRow) -> Markup {
    let base = format!("/api/v1/hosts/{}/groups/{}", enc(&v.name), enc(&g.name));
    let fits = v
        .sets
        .iter()
        .filter(|s| s.group.is_none() && (g.group_type.is_empty() || s.set_type == g.group_type));
    html! {
        form.available data-base=(base) data-post="add" data-close {
            h2 #available-title { "Available Sets" }
            p { "Sets of type " (g.group_type) " in no group." }
            fieldset { legend { "Sets to add to " (g.name) }
                @for s in fits { label { input type="checkbox" name="sets" value=(s.shadow); " " (s.name) " (" (s.shadow) ")" } br; }
            }
            p.error role="alert" {}
            div.buttons { button type="submit" { "Add" } " " button type="button" .cancel { "Cancel" } }
        }
    }
}

/// Link to the raw view of a group (`what` = `group`) or overflow volume.
fn raw_href(host: &str, what: &str, name: &str) -> String {
    format!("/raw/{}/{what}/{}", enc(host), enc(name))
}

fn raw_page(
    title: &str,
    path: &cim::ObjectPath,
    raw: Result<crate::api::RawView, crate::Error>,
    req: &Req,
) -> Markup {
    layout(
        "Raw instance",
        Some(&req.session.csrf),
        req.session.user.as_deref(),
        html! {
            h1 { (title) }
            p { "Read-only view of the CIM instance " code { (path.to_string()) } }
            @match raw {
                Err(e) => p.error role="alert" { "The host did not answer: " (e) },
                Ok((props, assoc)) => {
                    table { thead { tr { th scope="col" { "Property" } th scope="col" { "Value" } } }
                        tbody { @for (k, val) in &props { tr { th scope="row" { (k) } td { (val) } } } } }
                    h2 { "Associated objects" }
                    @match assoc {
                        Ok(a) => ul { @for p in &a { li { code { (p) } } } },
                        Err(e) => p { "(associations unavailable: " (e) ")" },
                    }
                }
            }
            p { a href="/" { "Back to the sets" } " · " a href="/overflows" { "Overflow volumes" } }
        },
    )
}

/// The raw view page of a set, group or overflow volume of a known host.
async fn raw_route(app: &Arc<App>, req: &Req, h: &str, what: &str, name: &str) -> Response<Body> {
    let Some(host) = app.registry.get(h) else {
        return not_found(format!("host {h} is not known"));
    };
    let v = host.view();
    let (title, path) = match what {
        "set" => match v.set(name) {
            Some(s) => (format!("DS_IISet {} on {}", s.name, v.name), s.path.clone()),
            None => return not_found(format!("set {name} not found on host {h}")),
        },
        "group" => match crate::api::group_object_path(&host, name) {
            Ok(p) => (format!("DS_IIGroup {name} on {}", v.name), p),
            Err(e) => return not_found(e.to_string()),
        },
        "overflow" => match crate::api::overflow_object_path(&host, name) {
            Ok(p) => (format!("DS_IIOverflowVol {name} on {}", v.name), p),
            Err(e) => return not_found(e.to_string()),
        },
        _ => return not_found(format!("no raw view of a {what}")),
    };
    let raw = crate::api::raw_view(host.ii.client(), &path).await;
    page(raw_page(&title, &path, raw, req))
}

/// Routes a page or fragment request.
pub async fn route(app: &Arc<App>, req: &Req) -> Response<Body> {
    if req.method != Method::GET {
        return not_found("no such page".into());
    }
    let seg: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let reg = &app.registry;
    match seg.as_slice() {
        [] => {
            // The id first, then the views: events after it may repeat what
            // the table shows, never miss what it does not.
            let id = reg.journal.last_id();
            page(main_page(&reg.views(), req, id))
        }
        ["overflows"] => {
            let id = reg.journal.last_id();
            page(overflows_page(&reg.views(), req, id))
        }
        ["ui", "overflows"] => page(overflows_table(&reg.views())),
        ["ui", "table"] => page(table(&reg.views())),
        ["ui", "hosts", h, rest @ ..] => {
            let Some(host) = reg.get(h) else {
                return not_found(format!("host {h} is not known"));
            };
            let v = host.view();
            match rest {
                ["volume-options"] => match host.ii.list_volumes().await {
                    Ok(vols) => page(volume_options(&vols)),
                    Err(e) => full(502, "text/plain; charset=utf-8", e.to_string()),
                },
                ["sets", s, "properties"] => match v.set(s) {
                    Some(set) => page(set_properties(&v, set, &reg.views())),
                    None => not_found(format!("set {s} not found on host {h}")),
                },
                ["groups", g, "properties"] => match v.group(g) {
                    Some(gr) => page(group_properties(&v, gr)),
                    None => not_found(format!("group {g} not found on host {h}")),
                },
                ["groups", g, "available"] => match v.group(g) {
                    Some(gr) => page(available_sets(&v, gr)),
                    None => not_found(format!("group {g} not found on host {h}")),
                },
                _ => not_found("no such fragment".into()),
            }
        }
        ["raw", h, s] => raw_route(app, req, h, "set", s).await,
        ["raw", h, what, name] => raw_route(app, req, h, what, name).await,
        _ => not_found(format!("no page /{}", seg.join("/"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, shadow: &str) -> SetInfo {
        SetInfo {
            name: name.into(),
            shadow: shadow.into(),
            master: "/m".into(),
            bitmap: "/b".into(),
            set_type: "independent".into(),
            state: "copying".into(),
            status: "normal".into(),
            percent_completed: 42.0,
            percent_synchronized: 10.0,
            overflow: None,
            group: None,
            master_capacity: 1 << 20,
            shadow_capacity: 1 << 20,
            bitmap_capacity: 1 << 16,
            copy_units: 100,
            copy_delay: 2,
            path: cim::ObjectPath::class(Some("root/cimv2"), "DS_IISet"),
        }
    }

    fn host(sets: Vec<SetInfo>) -> HostView {
        HostView {
            name: "h<1>".into(),
            url: "http://x".into(),
            tags: vec!["t\"q".into()],
            announced: false,
            version: None,
            reachable: true,
            unreachable_since: None,
            error: None,
            degraded: false,
            sets,
            groups: vec![],
            overflows: vec![],
        }
    }

    #[test]
    fn names_render_as_text() {
        let v = host(vec![set("<script>alert(1)</script>", "/v/s")]);
        let html = table(&[v]).into_string();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("h&lt;1&gt;"));
        assert!(
            html.contains("t&quot;q"),
            "attribute values are escaped too"
        );
    }

    #[test]
    fn each_host_is_a_section_with_its_own_table_and_one_button_per_row() {
        let mut a = host(vec![set("a", "/v/s"), set("b", "/v/t")]);
        a.name = "a".into();
        let mut b = host(vec![set("c", "/v/u")]);
        b.name = "b".into();
        let html = table(&[a, b]).into_string();
        assert_eq!(html.matches("<section ").count(), 2, "{html}");
        assert_eq!(html.matches("<table class=\"hosttable\">").count(), 2);
        assert_eq!(html.matches("<th scope=\"col\">Host</th>").count(), 2);
        assert!(
            html.contains("data-host=\"a\" data-tags=\"t&quot;q\" data-rows=\"2\""),
            "{html}"
        );
        assert!(html.contains("data-rows=\"1\""));
        assert_eq!(
            html.matches("<button ").count(),
            3,
            "one Actions button per row"
        );
        assert_eq!(html.matches("aria-label=\"Actions for ").count(), 3);
    }

    #[test]
    fn progress_carries_its_value_as_text() {
        let v = host(vec![set("a", "/v/s")]);
        let html = set_row(&v, &v.sets[0], false).into_string();
        assert!(
            html.contains("<progress max=\"100\" value=\"42\""),
            "{html}"
        );
        assert!(html.contains("42 %"));
    }

    #[test]
    fn diffs_are_rows_for_changes_and_bodies_for_structure() {
        let old = host(vec![set("a", "/v/s")]);
        let mut new = old.clone();
        new.sets[0].percent_completed = 50.0;
        let ev = diff_events(&old, &new);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].0, "row");
        assert!(ev[0].1.contains(&set_id("h<1>", "/v/s")));
        new.sets.push(set("b", "/v/t"));
        let ev = diff_events(&old, &new);
        assert_eq!(ev[0].0, "rows");
        let mut down = old.clone();
        down.reachable = false;
        down.unreachable_since = Some(0);
        let ev = diff_events(&old, &down);
        assert!(
            ev[0]
                .1
                .contains("unreachable since 1970-01-01 00:00:00 UTC"),
            "{}",
            ev[0].1
        );
        assert!(diff_events(&old, &old).is_empty());
    }

    #[test]
    fn groups_and_overflow_volumes_link_to_their_raw_views() {
        let mut v = host(vec![set("a", "/v/s")]);
        v.groups.push(GroupRow {
            name: "g <1>".into(),
            group_type: "independent".into(),
            members: vec![],
        });
        let g = group_row(&v, &v.groups[0]).into_string();
        assert!(
            g.contains("href=\"/raw/h%3C1%3E/group/g%20%3C1%3E\""),
            "{g}"
        );
        v.overflows.push(client::OverflowInfo {
            path: "/v/o\"x".into(),
            capacity: 1 << 20,
            used_bytes: 0,
            attached_sets: 0,
            total_attached_sets: None,
            high_water_bytes: None,
            object_path: cim::ObjectPath::class(Some("root/cimv2"), "DS_IIOverflowVol"),
        });
        let o = overflows_table(&[v]).into_string();
        assert!(
            o.contains("href=\"/raw/h%3C1%3E/overflow/%2Fv%2Fo%22x\""),
            "{o}"
        );
        assert!(o.contains("data-delovf=\"/v/o&quot;x\""), "{o}");
        assert!(
            o.contains("aria-label=\"Delete overflow volume /v/o&quot;x on h&lt;1&gt;\""),
            "{o}"
        );
    }

    #[test]
    fn utc_formats_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_767_225_600), "2026-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
