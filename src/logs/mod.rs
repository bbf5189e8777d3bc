//! Runtime logs as they come, turned into UDM events for the YARA-L engine in
//! [`crate::rules`]. This module owns reading log inputs (files, directories, gzip,
//! standard input; bounded at every step), sniffing each file's format, and one
//! adapter per log source (one file each) that maps a record to UDM the way
//! Chronicle's default parser for that log type does (see `docs/log-sources.md`).
//!
//! ```no_run
//! use imgscan::logs::{self, Format, Item};
//! let mut n = 0;
//! logs::read_inputs(&["cloudtrail.json.gz".to_string()], Format::Auto, &mut |item| {
//!     match item {
//!         Item::Event(c) => { n += 1; println!("{} {}", c.source, c.event.json()); }
//!         Item::Problem(p) => eprintln!("{p}"),
//!     }
//! });
//! ```
//!
//! Data flows one way: bytes → [`input`] (lines or JSON documents, each bounded) →
//! an [`Adapter`] (record → UDM JSON) → [`crate::rules::Event`] → the caller.

mod auditd;
mod azure;
mod cloudtrail;
pub mod detect;
mod falco;
pub mod follow;
mod gcp;
pub mod input;
pub mod json;
mod k8s;
mod sysmon;
mod tetragon;
mod udm;

pub use input::{read_inputs, read_reader, Converted, Item, Limits};
use serde_json::Value;

/// Input formats of `imgscan events --input-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Sniff each file.
    Auto,
    Udm,
    Sysmon,
    Falco,
    Tetragon,
    Auditd,
    Cloudtrail,
    GcpAudit,
    AzureActivity,
    K8sAudit,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Udm => "udm",
            Format::Sysmon => "sysmon",
            Format::Falco => "falco",
            Format::Tetragon => "tetragon",
            Format::Auditd => "auditd",
            Format::Cloudtrail => "cloudtrail",
            Format::GcpAudit => "gcp-audit",
            Format::AzureActivity => "azure-activity",
            Format::K8sAudit => "k8s-audit",
        }
    }
    /// Line-oriented text (not JSON).
    pub fn is_text(self) -> bool {
        matches!(self, Format::Auditd | Format::Sysmon)
    }
}

/// One input record handed to an adapter.
pub enum Record<'a> {
    /// A JSON value (one element of a `Records`/`records` array or of a top-level array
    /// is handed over on its own).
    Json(&'a Value),
    /// One line of a text format.
    Text(&'a str),
}

/// A converted record: the UDM event and the 1-based line of the record it came from
/// (adapters that join lines, like auditd, report the first line).
pub struct Out {
    pub line: usize,
    pub udm: Value,
}

/// A log source: record in, UDM events out.
pub trait Adapter {
    /// Convert one record at `line`. Pushing nothing drops it on purpose (e.g. Falco's
    /// `internal` metrics). An error names what is wrong; the caller reports it with the
    /// record's position and carries on.
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String>;
    /// Whether top-level arrays and `Records`/`records` wrappers hold one record per
    /// element (true for every source format; UDM input is one event per value).
    fn splits(&self) -> bool {
        true
    }
    /// End of one input file: emit what is still pending.
    fn finish(&mut self, _out: &mut Vec<Out>) {}
    /// The parts of a JSON record this adapter reads, when it names them: a JSON line
    /// is then parsed keeping only those ([`json::parse_kept`]) instead of into a whole
    /// [`Value`] tree. Converting the kept value must give what converting the whole
    /// value gives (`tests/logs_adapters.rs` checks this on every shared sample).
    fn keep(&self) -> Option<&'static json::Keep> {
        None
    }
}

/// The adapter for a concrete format (`None` for `auto`).
pub fn adapter(f: Format) -> Option<Box<dyn Adapter>> {
    Some(match f {
        Format::Udm => Box::new(udm::Udm),
        Format::Falco => Box::new(falco::Falco),
        Format::Tetragon => Box::new(tetragon::Tetragon),
        Format::Auditd => Box::new(auditd::Auditd::default()),
        Format::Cloudtrail => Box::new(cloudtrail::CloudTrail),
        Format::GcpAudit => Box::new(gcp::GcpAudit),
        Format::AzureActivity => Box::new(azure::AzureActivity),
        Format::K8sAudit => Box::new(k8s::K8sAudit),
        Format::Sysmon => Box::new(sysmon::Sysmon),
        Format::Auto => return None,
    })
}

/// Guess a file's format from its first bytes (up to 64 KiB). UDM when nothing else
/// fits, which keeps malformed UDM lines reported as before.
pub fn sniff(head: &[u8]) -> Format {
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start();
    let has = |k: &str| t.contains(k);
    if has("<Event>") && (has("sysmon") || has("Linux-Sysmon")) {
        return Format::Sysmon;
    }
    if t.starts_with("type=") || t.starts_with("node=") || has(" msg=audit(") {
        return Format::Auditd;
    }
    if !(t.starts_with('{') || t.starts_with('[')) {
        return Format::Udm;
    }
    if has("\"output\"") && has("\"priority\"") && has("\"rule\"") {
        Format::Falco
    } else if has("\"process_exec\"")
        || has("\"process_exit\"")
        || has("\"process_kprobe\"")
        || has("\"process_connect\"")
    {
        Format::Tetragon
    } else if has("\"eventSource\"") && (has("\"awsRegion\"") || has("\"eventName\"")) {
        Format::Cloudtrail
    } else if has("\"protoPayload\"") {
        Format::GcpAudit
    } else if has("\"auditID\"") && has("\"verb\"") {
        Format::K8sAudit
    } else if has("\"operationName\"") && (has("\"resourceId\"") || has("\"caller\"")) {
        Format::AzureActivity
    } else {
        Format::Udm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs() {
        assert_eq!(sniff(b"type=SYSCALL msg=audit(1.2:3): x=1"), Format::Auditd);
        assert_eq!(
            sniff(br#"{"output":"x","priority":"Notice","rule":"r"}"#),
            Format::Falco
        );
        assert_eq!(
            sniff(br#"{"Records":[{"eventSource":"ec2.amazonaws.com","eventName":"X"}]}"#),
            Format::Cloudtrail
        );
        assert_eq!(
            sniff(br#"{"metadata":{"event_type":"PROCESS_LAUNCH"}}"#),
            Format::Udm
        );
        assert_eq!(sniff(b"{not json"), Format::Udm);
    }
}
