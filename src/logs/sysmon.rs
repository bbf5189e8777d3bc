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
use std::borrow::Cow;

pub struct Sysmon;

/// Most `<Data>` fields taken from one event.
const MAX_FIELDS: usize = 128;

struct Parsed<'a> {
    event_id: String,
    computer: Option<String>,
    /// `<Data Name=…>` values in document order (a repeated name: the last one),
    /// borrowed from the line when they hold no reference to expand.
    data: Vec<(String, Cow<'a, str>)>,
}

impl Parsed<'_> {
    fn get(&self, k: &str) -> Option<&Cow<'_, str>> {
        self.data.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }
}

/// The elements whose place or text matters; everything else is `Other`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    Event,
    System,
    EventData,
    EventId,
    Computer,
    Data,
    Other,
}

fn tag(local: &[u8]) -> Tag {
    match local {
        b"Event" => Tag::Event,
        b"System" => Tag::System,
        b"EventData" => Tag::EventData,
        b"EventID" => Tag::EventId,
        b"Computer" => Tag::Computer,
        b"Data" => Tag::Data,
        _ => Tag::Other,
    }
}

fn parse(xml: &str) -> Result<Parsed<'_>, String> {
    let mut r = quick_xml::Reader::from_str(xml);
    // Open elements (names are not kept: only the few that matter are told apart).
    let mut stack: Vec<Tag> = Vec::with_capacity(8);
    // The text of the element open last (borrowed while it is one piece).
    let mut text: Cow<str> = Cow::Borrowed("");
    let mut data_name: Option<String> = None;
    let mut p = Parsed {
        event_id: String::new(),
        computer: None,
        data: Vec::with_capacity(32),
    };
    // Text is only gathered inside elements whose text is used.
    let wanted =
        |stack: &[Tag]| matches!(stack.last(), Some(Tag::EventId | Tag::Computer | Tag::Data));
    loop {
        match r.read_event().map_err(|e| format!("XML: {e}"))? {
            X::DocType(_) => return Err("XML DOCTYPE not accepted (no entity expansion)".into()),
            X::Start(e) => {
                let t = tag(e.local_name().as_ref());
                if t == Tag::Data {
                    data_name = e
                        .try_get_attribute("Name")
                        .ok()
                        .flatten()
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
                }
                stack.push(t);
                text = Cow::Borrowed("");
                if stack.len() > 16 {
                    return Err("XML nested too deep".into());
                }
            }
            X::Text(t) => {
                let d = t.decode().map_err(|e| format!("XML: {e}"))?;
                if wanted(&stack) {
                    if text.is_empty() {
                        text = d;
                    } else {
                        text.to_mut().push_str(&d);
                    }
                }
            }
            X::CData(t) if wanted(&stack) => {
                text.to_mut().push_str(&String::from_utf8_lossy(&t));
            }
            X::GeneralRef(g) => {
                if let Some(c) = g.resolve_char_ref().map_err(|e| format!("XML: {e}"))? {
                    if wanted(&stack) {
                        text.to_mut().push(c);
                    }
                } else {
                    let name = g.decode().map_err(|e| format!("XML: {e}"))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(v) if wanted(&stack) => text.to_mut().push_str(v),
                        Some(_) => {}
                        None => return Err(format!("XML entity &{name}; not accepted")),
                    }
                }
            }
            X::End(_) => {
                let name = stack.pop().unwrap_or(Tag::Other);
                let parent = stack.last().copied().unwrap_or(Tag::Other);
                match (parent, name) {
                    (Tag::System, Tag::EventId) => p.event_id = text.trim().to_string(),
                    (Tag::System, Tag::Computer) => p.computer = Some(text.trim().to_string()),
                    (Tag::EventData, Tag::Data) => {
                        if let Some(n) = data_name.take() {
                            if let Some(slot) = p.data.iter_mut().find(|(k, _)| *k == n) {
                                slot.1 = std::mem::take(&mut text);
                            } else if p.data.len() < MAX_FIELDS {
                                p.data.push((n, std::mem::take(&mut text)));
                            }
                        }
                    }
                    (_, Tag::Event) => break,
                    _ => {}
                }
                text = Cow::Borrowed("");
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
            p.get(k)
                .filter(|v| !v.is_empty() && v.as_ref() != "-")
                .map(|v| v.to_string())
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
        out.push(Out {
            line,
            udm: e.into_value(),
        });
        Ok(())
    }
}
