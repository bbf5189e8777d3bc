//! Sysmon for Linux: syslog lines carrying one `<Event>` XML document each
//! (`… sysmon: <Event>…</Event>`). Parsed with quick-xml, which never expands entities
//! beyond the five predefined ones and character references; a DOCTYPE (where entity
//! tricks live) or any other entity rejects the record. EventID 1 → PROCESS_LAUNCH, 3 →
//! NETWORK_CONNECTION, 5 → PROCESS_TERMINATION, 11 → FILE_CREATION, 23 → FILE_DELETION,
//! 4/16 → STATUS_UPDATE, others → GENERIC_EVENT. Linux has no DNS event (22).

use super::json::{event, ip, set, set_opt};
use super::{Adapter, Out, Record};
use quick_xml::events::Event as X;
use serde_json::json;
use std::collections::HashMap;

pub struct Sysmon;

/// Most `<Data>` fields taken from one event.
const MAX_FIELDS: usize = 128;

struct Parsed {
    event_id: String,
    computer: Option<String>,
    data: HashMap<String, String>,
}

fn parse(xml: &str) -> Result<Parsed, String> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = vec![];
    let mut text = String::new();
    let mut data_name: Option<String> = None;
    let mut p = Parsed {
        event_id: String::new(),
        computer: None,
        data: HashMap::new(),
    };
    loop {
        match r.read_event().map_err(|e| format!("XML: {e}"))? {
            X::DocType(_) => return Err("XML DOCTYPE not accepted (no entity expansion)".into()),
            X::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "Data" {
                    data_name = e
                        .try_get_attribute("Name")
                        .ok()
                        .flatten()
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
                }
                stack.push(name);
                text.clear();
                if stack.len() > 16 {
                    return Err("XML nested too deep".into());
                }
            }
            X::Text(t) => text.push_str(&t.decode().map_err(|e| format!("XML: {e}"))?),
            X::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            X::GeneralRef(g) => {
                if let Some(c) = g.resolve_char_ref().map_err(|e| format!("XML: {e}"))? {
                    text.push(c);
                } else {
                    let name = g.decode().map_err(|e| format!("XML: {e}"))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(v) => text.push_str(v),
                        None => return Err(format!("XML entity &{name}; not accepted")),
                    }
                }
            }
            X::End(_) => {
                let name = stack.pop().unwrap_or_default();
                let parent = stack.last().map(String::as_str).unwrap_or("");
                match (parent, name.as_str()) {
                    ("System", "EventID") => p.event_id = text.trim().to_string(),
                    ("System", "Computer") => p.computer = Some(text.trim().to_string()),
                    ("EventData", "Data") => {
                        if let Some(n) = data_name.take() {
                            if p.data.len() < MAX_FIELDS {
                                p.data.insert(n, text.clone());
                            }
                        }
                    }
                    (_, "Event") => break,
                    _ => {}
                }
                text.clear();
            }
            X::Eof => break,
            _ => {}
        }
    }
    if p.event_id.is_empty() {
        return Err("no System/EventID in the Sysmon event".into());
    }
    Ok(p)
}

impl Adapter for Sysmon {
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        let Record::Text(l) = rec else {
            return Err("expected a syslog line with a Sysmon <Event>".into());
        };
        let Some(i) = l.find("<Event") else {
            // Startup banners and other sysmon lines carry no event.
            return Ok(());
        };
        let p = parse(&l[i..])?;
        let d = |k: &str| {
            p.data
                .get(k)
                .filter(|v| !v.is_empty() && *v != "-")
                .cloned()
        };
        let num = |k: &str| d(k).and_then(|v| v.parse::<u64>().ok());
        let t = match p.event_id.as_str() {
            "1" => "PROCESS_LAUNCH",
            "3" => "NETWORK_CONNECTION",
            "5" => "PROCESS_TERMINATION",
            "11" => "FILE_CREATION",
            "23" => "FILE_DELETION",
            "4" | "16" => "STATUS_UPDATE",
            _ => "GENERIC_EVENT",
        };
        let mut e = event(t, "Microsoft", "Sysmon for Linux");
        set(&mut e, "metadata.product_event_type", p.event_id.clone());
        set_opt(
            &mut e,
            "metadata.event_timestamp",
            d("UtcTime").map(|u| format!("{}Z", u.replacen(' ', "T", 1))),
        );
        set_opt(&mut e, "principal.hostname", p.computer.clone());
        let hashes = d("Hashes").unwrap_or_default();
        let hash = |algo: &str| {
            hashes.split(',').find_map(|h| {
                let (a, v) = h.split_once('=')?;
                a.eq_ignore_ascii_case(algo).then(|| v.to_ascii_lowercase())
            })
        };
        let actor = if p.event_id == "1" || p.event_id == "5" {
            "target"
        } else {
            "principal"
        };
        set_opt(
            &mut e,
            &format!("{actor}.process.file.full_path"),
            d("Image"),
        );
        set_opt(&mut e, &format!("{actor}.process.pid"), num("ProcessId"));
        set_opt(
            &mut e,
            &format!("{actor}.process.product_specific_process_id"),
            d("ProcessGuid"),
        );
        match p.event_id.as_str() {
            "1" => {
                set_opt(&mut e, "target.process.command_line", d("CommandLine"));
                set_opt(&mut e, "target.process.file.sha256", hash("SHA256"));
                set_opt(&mut e, "target.process.file.md5", hash("MD5"));
                set_opt(&mut e, "target.user.userid", d("User"));
                set_opt(&mut e, "principal.process.file.full_path", d("ParentImage"));
                set_opt(
                    &mut e,
                    "principal.process.command_line",
                    d("ParentCommandLine"),
                );
                set_opt(&mut e, "principal.process.pid", num("ParentProcessId"));
                set_opt(
                    &mut e,
                    "principal.process.product_specific_process_id",
                    d("ParentProcessGuid"),
                );
                set_opt(&mut e, "principal.user.userid", d("ParentUser"));
                set_opt(&mut e, "additional.fields.cwd", d("CurrentDirectory"));
            }
            "3" => {
                set_opt(&mut e, "principal.user.userid", d("User"));
                set_opt(
                    &mut e,
                    "principal.ip",
                    d("SourceIp").and_then(|a| ip(&a)).map(|a| json!([a])),
                );
                set_opt(&mut e, "principal.port", num("SourcePort"));
                set_opt(
                    &mut e,
                    "target.ip",
                    d("DestinationIp").and_then(|a| ip(&a)).map(|a| json!([a])),
                );
                set_opt(&mut e, "target.port", num("DestinationPort"));
                set_opt(&mut e, "target.hostname", d("DestinationHostname"));
                set_opt(
                    &mut e,
                    "network.ip_protocol",
                    d("Protocol").map(|x| x.to_ascii_uppercase()),
                );
                let dir = if d("Initiated").as_deref() == Some("true") {
                    "OUTBOUND"
                } else {
                    "INBOUND"
                };
                set(&mut e, "network.direction", dir);
            }
            "11" | "23" => {
                set_opt(&mut e, "principal.user.userid", d("User"));
                set_opt(&mut e, "target.file.full_path", d("TargetFilename"));
                set_opt(&mut e, "target.file.sha256", hash("SHA256"));
            }
            _ => {
                set_opt(&mut e, "principal.user.userid", d("User"));
            }
        }
        out.push(Out { line, udm: e });
        Ok(())
    }
}
