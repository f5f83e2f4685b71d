//! The JSON API, `/api/v1/…`: the service object the console and scripts call.
//!
//! Every path segment is percent-decoded, so a set named by its shadow path
//! is written `/api/v1/hosts/alpha/sets/%2Fdev%2Fvg0%2Fshadow`. Sets may be
//! named by shadow path or set name. Bodies are JSON objects; answers are
//! JSON; errors are `{"error": "...", "status": N}` with 400 (refused before
//! asking the host), 401, 403 (CSRF), 404 (unknown host, set, group, overflow
//! volume, route), 409 (the host refused: its CIM error text), 413, 504 (the
//! host does not answer in time). State-changing requests need the session
//! cookie and the `X-CSRF-Token` header (`GET /api/v1/session` gives both).
//!
//! | method | path | body | what |
//! |---|---|---|---|
//! | GET | `/session` | | `{user, csrf}` |
//! | GET | `/hosts` | | every host: name, url, tags, reachable, unreachableSince, degraded, counts |
//! | GET | `/hosts/{h}` | | one host with sets, groups, overflow volumes |
//! | POST | `/announce` | `{name, url, version, interval?}` + `Authorization: Bearer TOKEN` | register / heartbeat (lookup service) |
//! | GET | `/hosts/{h}/sets` | | the host's sets |
//! | POST | `/hosts/{h}/sets` | `{type, master, shadow, bitmap, name?, overflow?, copyDelay?, copyUnits?}` | enable a set |
//! | GET, DELETE | `/hosts/{h}/sets/{s}` | | one set; disable it |
//! | POST | `/hosts/{h}/sets/{s}/{copy,update}` | `{direction: "to-shadow"\|"to-master"}` | start a copy or update |
//! | POST | `/hosts/{h}/sets/{s}/{abort,suspend,resume,reset,export,detach}` | | the method of that name |
//! | POST | `/hosts/{h}/sets/{s}/wait` | `{timeoutSeconds?}` | wait for the running copy |
//! | POST | `/hosts/{h}/sets/{s}/join` | `{bitmap}` | join an exported shadow back |
//! | POST | `/hosts/{h}/sets/{s}/attach` | `{overflow}` | attach an overflow volume |
//! | POST | `/hosts/{h}/sets/{s}/rename` | `{name}` | rename |
//! | POST | `/hosts/{h}/sets/{s}/copy-parameters` | `{delay: 2-10000, units: 100-60000}` | copy throttle |
//! | GET | `/hosts/{h}/{sets,groups,overflows}/{name}/raw` | | the CIM instance and its associated object paths |
//! | POST | `/hosts/{h}/import` | `{shadow, bitmap}` | import an exported shadow |
//! | POST | `/move` | `{from, shadow, to, bitmap}` | export on `from`, import on `to` |
//! | GET, POST | `/hosts/{h}/groups` | `{name, type?}` | list; create |
//! | GET, DELETE | `/hosts/{h}/groups/{g}` | | one group; delete |
//! | POST | `/hosts/{h}/groups/{g}/{add,remove}` | `{sets: [..]}` | membership |
//! | POST | `/hosts/{h}/groups/{g}/{copy,update}` | `{direction}` | on all members at one point in time |
//! | POST | `/hosts/{h}/groups/{g}/{abort,suspend,resume,lock,unlock,wait}` | | |
//! | POST | `/hosts/{h}/groups/{g}/rename` | `{name}` | |
//! | GET, POST | `/hosts/{h}/overflows` | `{path}` | list; initialise |
//! | DELETE | `/hosts/{h}/overflows/{path}` | | delete |
//! | GET | `/hosts/{h}/volumes` | | `DS_Volume`s with capacity and usedBy |
//! | GET | `/events?since=N` | | server-sent events after id N or `Last-Event-ID` (see [`crate::events`]) |
//! | GET | `/openapi.json` | | this table as OpenAPI 3 |

use crate::events::{parse_last_event_id, Resume};
use crate::hosts::Host;
use crate::server::{full, json, json_error, App, Body, Req};
use crate::Error;
use client::{CopyParams, Direction, SetHandle, SetSpec, SetType};
use http::{Method, Response};
use http_body_util::BodyExt;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Duration;

/// The OpenAPI document served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Copy delay range (10 ms ticks).
pub const DELAY_RANGE: std::ops::RangeInclusive<u32> = 2..=10000;
/// Copy units range (chunks per burst).
pub const UNITS_RANGE: std::ops::RangeInclusive<u32> = 100..=60000;

type R = Result<Response<Body>, Error>;

fn body_json(req: &Req) -> Result<Json, Error> {
    if req.body.is_empty() {
        return Ok(json!({}));
    }
    let v: Json = serde_json::from_slice(&req.body)
        .map_err(|e| Error::BadRequest(format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(Error::BadRequest("the body must be a JSON object".into()));
    }
    Ok(v)
}

fn field<'a>(v: &'a Json, name: &str) -> Result<&'a str, Error> {
    match v.get(name).and_then(Json::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(Error::BadRequest(format!(
            "field {name} is missing or empty"
        ))),
    }
}

fn opt_field<'a>(v: &'a Json, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Json::as_str).filter(|s| !s.is_empty())
}

fn opt_u32(v: &Json, name: &str) -> Result<Option<u32>, Error> {
    match v.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if s.is_empty() => Ok(None),
        Some(Json::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::BadRequest(format!("field {name} must be a whole number"))),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| Error::BadRequest(format!("field {name} must be a whole number"))),
    }
}

/// Checks copy parameters against their ranges (interface.md §7).
pub fn check_copy_params(delay: u32, units: u32) -> Result<CopyParams, Error> {
    if !DELAY_RANGE.contains(&delay) {
        return Err(Error::BadRequest(format!(
            "copy delay {delay} is outside {}-{}",
            DELAY_RANGE.start(),
            DELAY_RANGE.end()
        )));
    }
    if !UNITS_RANGE.contains(&units) {
        return Err(Error::BadRequest(format!(
            "copy units {units} is outside {}-{}",
            UNITS_RANGE.start(),
            UNITS_RANGE.end()
        )));
    }
    Ok(CopyParams { delay, units })
}

fn direction(v: &Json) -> Result<Direction, Error> {
    match opt_field(v, "direction").unwrap_or("to-shadow") {
        "to-shadow" | "shadow" => Ok(Direction::ToShadow),
        "to-master" | "master" => Ok(Direction::ToMaster),
        d => Err(Error::BadRequest(format!(
            "direction {d:?} must be to-shadow or to-master"
        ))),
    }
}

fn wait_timeout(v: &Json) -> Result<Option<Duration>, Error> {
    Ok(opt_u32(v, "timeoutSeconds")?.map(|s| Duration::from_secs(s.into())))
}

fn set_handle(host: &Host, name: &str) -> Result<SetHandle, Error> {
    let v = host.view();
    v.set(name)
        .map(|s| host.ii.handle_for(s))
        .ok_or_else(|| Error::NotFound(format!("set {name} not found on host {}", v.name)))
}

fn ok() -> R {
    Ok(json(200, &json!({"ok": true})))
}

/// Routes an API request.
pub async fn route(app: &Arc<App>, req: &Req) -> Response<Body> {
    match dispatch(app, req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status() >= 500 || e.status() == 409 {
                tracing::warn!(error = %e, "API request failed");
            }
            json_error(&e)
        }
    }
}

async fn dispatch(app: &Arc<App>, req: &Req) -> R {
    let seg: Vec<&str> = req.segments.iter().skip(2).map(String::as_str).collect();
    let m = &req.method;
    match (m, seg.as_slice()) {
        (&Method::GET, ["session"]) => Ok(json(
            200,
            &json!({"user": req.session.user, "csrf": req.session.csrf}),
        )),
        (&Method::GET, ["events"]) => Ok(events(app, req)),
        (&Method::GET, ["hosts"]) => {
            let hosts: Vec<Json> = app
                .registry
                .views()
                .into_iter()
                .map(|v| {
                    json!({
                        "name": v.name, "url": v.url, "tags": v.tags, "announced": v.announced,
                        "version": v.version, "reachable": v.reachable,
                        "unreachableSince": v.unreachable_since, "error": v.error,
                        "degraded": v.degraded, "sets": v.sets.len(), "groups": v.groups.len(),
                        "overflows": v.overflows.len(),
                    })
                })
                .collect();
            Ok(json(200, &hosts))
        }
        (&Method::POST, ["move"]) => {
            let b = body_json(req)?;
            let (from, shadow, to) = (field(&b, "from")?, field(&b, "shadow")?, field(&b, "to")?);
            let bitmap = field(&b, "bitmap")?;
            let (h1, h2) = (app.registry.host(from)?, app.registry.host(to)?);
            let fleet = client::Fleet::from_hosts(vec![
                (from.to_owned(), h1.ii.clone()),
                (to.to_owned(), h2.ii.clone()),
            ]);
            let r = fleet.move_shadow(from, shadow, to, bitmap).await;
            h1.nudge();
            h2.nudge();
            r?;
            ok()
        }
        (_, ["hosts", h, rest @ ..]) => {
            let host = app.registry.host(h)?;
            let r = host_route(&host, m, rest, req).await;
            if *m != Method::GET {
                host.nudge();
            }
            r
        }
        _ => Err(Error::NotFound(format!(
            "no API route {} /{}",
            m,
            req.segments.join("/")
        ))),
    }
}

async fn host_route(host: &Host, m: &Method, seg: &[&str], req: &Req) -> R {
    let ii = &host.ii;
    match (m, seg) {
        (&Method::GET, []) => Ok(json(200, &host.view())),
        (&Method::GET, ["sets"]) => Ok(json(200, &host.view().sets)),
        (&Method::POST, ["sets"]) => {
            let b = body_json(req)?;
            let t = field(&b, "type")?;
            let set_type = match SetType::parse(t) {
                Some(t @ (SetType::Independent | SetType::Dependent)) => t,
                _ => {
                    return Err(Error::BadRequest(format!(
                        "type {t:?} must be independent or dependent"
                    )))
                }
            };
            let mut spec = SetSpec::new(
                set_type,
                field(&b, "master")?,
                field(&b, "shadow")?,
                field(&b, "bitmap")?,
            );
            spec.name = opt_field(&b, "name").map(str::to_owned);
            spec.overflow = opt_field(&b, "overflow").map(str::to_owned);
            let throttle = match (opt_u32(&b, "copyDelay")?, opt_u32(&b, "copyUnits")?) {
                (None, None) => None,
                (d, u) => Some(check_copy_params(d.unwrap_or(2), u.unwrap_or(100))?),
            };
            let h = match throttle {
                Some(p) => ii.create_set_throttled(&spec, p).await?,
                None => ii.create_set(&spec).await?,
            };
            Ok(json(201, &json!({"shadow": h.shadow()})))
        }
        (&Method::GET, ["sets", s]) => {
            let v = host.view();
            let set = v
                .set(s)
                .ok_or_else(|| Error::NotFound(format!("set {s} not found on host {}", v.name)))?;
            Ok(json(200, set))
        }
        (&Method::DELETE, ["sets", s]) => {
            set_handle(host, s)?.delete().await?;
            ok()
        }
        (&Method::GET, ["sets", s, "raw"]) => {
            let h = set_handle(host, s)?;
            raw_json(ii.client(), h.path()).await
        }
        (&Method::POST, ["sets", s, action]) => {
            let h = set_handle(host, s)?;
            let b = body_json(req)?;
            match *action {
                "copy" => h.copy(direction(&b)?).await?,
                "update" => h.update(direction(&b)?).await?,
                "abort" => h.abort().await?,
                "suspend" => h.suspend().await?,
                "resume" => h.resume().await?,
                "reset" => h.reset().await?,
                "export" => h.export().await?,
                "detach" => h.detach_overflow().await?,
                "join" => h.join(field(&b, "bitmap")?).await?,
                "attach" => h.attach_overflow(field(&b, "overflow")?).await?,
                "rename" => h.rename(field(&b, "name")?).await?,
                "wait" => h.wait(wait_timeout(&b)?).await?,
                "copy-parameters" => {
                    let d = opt_u32(&b, "delay")?
                        .ok_or_else(|| Error::BadRequest("field delay is missing".into()))?;
                    let u = opt_u32(&b, "units")?
                        .ok_or_else(|| Error::BadRequest("field units is missing".into()))?;
                    h.set_copy_parameters(check_copy_params(d, u)?).await?
                }
                a => return Err(Error::NotFound(format!("no set action {a}"))),
            }
            ok()
        }
        (&Method::POST, ["import"]) => {
            let b = body_json(req)?;
            let h = ii
                .import_shadow(field(&b, "shadow")?, field(&b, "bitmap")?)
                .await?;
            Ok(json(201, &json!({"shadow": h.shadow()})))
        }
        (&Method::GET, ["groups"]) => Ok(json(200, &host.view().groups)),
        (&Method::POST, ["groups"]) => {
            let b = body_json(req)?;
            let t = match opt_field(&b, "type") {
                None => None,
                Some(t) => Some(SetType::parse(t).ok_or_else(|| {
                    Error::BadRequest(format!("type {t:?} must be independent or dependent"))
                })?),
            };
            let g = ii.create_group(field(&b, "name")?, t).await?;
            Ok(json(201, &json!({"name": g.name()})))
        }
        (&Method::GET, ["groups", g]) => {
            let v = host.view();
            let group = v.group(g).ok_or_else(|| {
                Error::NotFound(format!("group {g} not found on host {}", v.name))
            })?;
            Ok(json(200, group))
        }
        (&Method::GET, ["groups", g, "raw"]) => {
            raw_json(ii.client(), &group_object_path(host, g)?).await
        }
        (&Method::DELETE, ["groups", g]) => {
            ii.delete_group(g).await?;
            ok()
        }
        (&Method::POST, ["groups", g, action]) => {
            let v = host.view();
            if v.group(g).is_none() {
                return Err(Error::NotFound(format!(
                    "group {g} not found on host {}",
                    v.name
                )));
            }
            let mut gh = ii.group(g);
            let b = body_json(req)?;
            match *action {
                "add" | "remove" => {
                    let names: Vec<&str> = b
                        .get("sets")
                        .and_then(Json::as_array)
                        .map(|a| a.iter().filter_map(Json::as_str).collect())
                        .unwrap_or_default();
                    if names.is_empty() {
                        return Err(Error::BadRequest(
                            "field sets must list at least one set".into(),
                        ));
                    }
                    for n in names {
                        let s = set_handle(host, n)?;
                        if *action == "add" {
                            gh.add(&s).await?
                        } else {
                            gh.remove(&s).await?
                        }
                    }
                }
                "copy" => gh.copy(direction(&b)?).await?,
                "update" => gh.update(direction(&b)?).await?,
                "abort" => gh.abort().await?,
                "suspend" => gh.suspend().await?,
                "resume" => gh.resume().await?,
                "lock" => gh.lock().await?,
                "unlock" => gh.unlock().await?,
                "rename" => gh.rename(field(&b, "name")?).await?,
                "wait" => gh.wait(wait_timeout(&b)?).await?,
                a => return Err(Error::NotFound(format!("no group action {a}"))),
            }
            ok()
        }
        (&Method::GET, ["overflows"]) => Ok(json(200, &host.view().overflows)),
        (&Method::POST, ["overflows"]) => {
            let b = body_json(req)?;
            let o = ii.create_overflow(field(&b, "path")?).await?;
            Ok(json(201, &o))
        }
        (&Method::GET, ["overflows", p, "raw"]) => {
            raw_json(ii.client(), &overflow_object_path(host, p)?).await
        }
        (&Method::DELETE, ["overflows", p]) => {
            ii.delete_overflow(p).await?;
            ok()
        }
        (&Method::GET, ["volumes"]) => Ok(json(200, &ii.list_volumes().await?)),
        _ => Err(Error::NotFound(format!(
            "no API route {} /{}",
            m,
            req.segments.join("/")
        ))),
    }
}

/// A CIM value as display text.
pub fn value_text(v: &cim::Value) -> String {
    use cim::Value as V;
    match v {
        V::Null => String::new(),
        V::String(s) => s.clone(),
        V::Boolean(b) => b.to_string(),
        V::Uint8(n) => n.to_string(),
        V::Uint16(n) => n.to_string(),
        V::Uint32(n) => n.to_string(),
        V::Uint64(n) => n.to_string(),
        V::Sint8(n) => n.to_string(),
        V::Sint16(n) => n.to_string(),
        V::Sint32(n) => n.to_string(),
        V::Sint64(n) => n.to_string(),
        V::Real32(n) => n.to_string(),
        V::Real64(n) => n.to_string(),
        V::DateTime(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// The object path of a group the host's view knows.
pub fn group_object_path(host: &Host, g: &str) -> Result<cim::ObjectPath, Error> {
    let v = host.view();
    match v.group(g) {
        Some(_) => Ok(host.ii.group(g).path().clone()),
        None => Err(Error::NotFound(format!(
            "group {g} not found on host {}",
            v.name
        ))),
    }
}

/// The object path of an overflow volume the host's view knows.
pub fn overflow_object_path(host: &Host, p: &str) -> Result<cim::ObjectPath, Error> {
    let v = host.view();
    match v.overflows.iter().find(|o| o.path == p) {
        Some(o) => Ok(o.object_path.clone()),
        None => Err(Error::NotFound(format!(
            "overflow volume {p} not found on host {}",
            v.name
        ))),
    }
}

/// An instance's properties (name, display text, in instance order) and the
/// paths of its associated objects (or why they are unavailable).
pub type RawView = (Vec<(String, String)>, Result<Vec<String>, String>);

/// The read-only raw view of one instance, read through the client crate like
/// everything else.
pub async fn raw_view(c: &client::Client, path: &cim::ObjectPath) -> Result<RawView, Error> {
    let inst = c.get_instance(path).await?;
    let assoc = c
        .associator_names(path, None, None)
        .await
        .map(|v| v.iter().map(|p| p.to_string()).collect())
        .map_err(|e| e.to_string());
    Ok((raw_properties(&inst), assoc))
}

async fn raw_json(c: &client::Client, path: &cim::ObjectPath) -> R {
    let (props, assoc) = raw_view(c, path).await?;
    Ok(json(
        200,
        &json!({
            "path": path.to_string(),
            "properties": props,
            "associated": assoc.unwrap_or_default(),
        }),
    ))
}

/// Property name → display text, in instance order.
pub fn raw_properties(inst: &cim::Instance) -> Vec<(String, String)> {
    inst.properties
        .iter()
        .map(|p| (p.name.to_string(), value_text(&p.value)))
        .collect()
}

fn events(app: &Arc<App>, req: &Req) -> Response<Body> {
    // A reconnecting EventSource sends Last-Event-ID; a fresh page passes the
    // journal id its table was rendered at as `?since=N`, so nothing between
    // the render and the connection is lost.
    let since = req
        .query
        .split('&')
        .find_map(|kv| kv.strip_prefix("since="));
    let last = parse_last_event_id(req.header("last-event-id")).or(parse_last_event_id(since));
    let (resume, rx) = app.registry.journal.resume(last);
    let mut first = String::from("retry: 1000\n\n");
    match resume {
        Resume::Events(ev) => ev.iter().for_each(|e| first.push_str(&e.to_sse())),
        Resume::Refresh => {
            let id = app.registry.journal.last_id();
            first.push_str(&format!("id: {id}\nevent: refresh\ndata: {{}}\n\n"));
        }
    }
    let journal = app.registry.journal.clone();
    let head = futures::stream::once(async move { first });
    let tail = futures::stream::unfold(rx, move |mut rx| {
        let journal = journal.clone();
        async move {
            use tokio::sync::broadcast::error::RecvError;
            let text = match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
                Ok(Ok(e)) => e.to_sse(),
                // Too slow a reader: tell it to reload rather than skip silently.
                Ok(Err(RecvError::Lagged(_))) => {
                    format!("id: {}\nevent: refresh\ndata: {{}}\n\n", journal.last_id())
                }
                Ok(Err(RecvError::Closed)) => return None,
                Err(_) => ": keep-alive\n\n".to_owned(),
            };
            Some((text, rx))
        }
    });
    use futures::StreamExt;
    let stream = head.chain(tail).map(|s| {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(bytes::Bytes::from(s)))
    });
    let body = BodyExt::boxed(http_body_util::StreamBody::new(stream));
    let mut r = full(200, "text/event-stream", "");
    *r.body_mut() = body;
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_parameter_ranges() {
        assert!(check_copy_params(2, 100).is_ok());
        assert!(check_copy_params(10000, 60000).is_ok());
        let e = check_copy_params(1, 100).unwrap_err();
        assert!(e.to_string().contains("delay 1 is outside 2-10000"), "{e}");
        let e = check_copy_params(2, 50).unwrap_err();
        assert!(
            e.to_string().contains("units 50 is outside 100-60000"),
            "{e}"
        );
    }

    #[test]
    fn the_openapi_document_is_json_and_lists_the_routes() {
        let v: Json = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(v["openapi"].as_str().unwrap().chars().next(), Some('3'));
        for p in [
            "/hosts",
            "/hosts/{host}/sets",
            "/hosts/{host}/sets/{set}/{action}",
            "/hosts/{host}/groups/{group}/{action}",
            "/announce",
            "/events",
        ] {
            assert!(v["paths"].get(p).is_some(), "{p} missing");
        }
    }
}
