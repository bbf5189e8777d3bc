//! Linux audit raw logs (`/var/log/audit/audit.log`). Records with the same
//! `msg=audit(EPOCH:SERIAL)` (and `node=`) are one event, even when records of other
//! serials come between them (the kernel interleaves busy CPUs): a bounded table of
//! open serials ([`MAX_OPEN`]) is flushed on `EOE`, when it is full (oldest first), when
//! a serial saw no record for [`MAX_AGE`] lines, or at the end of the input. execve (SYSCALL 59/322 on x86_64, 221/281 on aarch64, or
//! `syscall=execve`) → PROCESS_LAUNCH with the command line from `EXECVE` args (or
//! `PROCTITLE`), hex-encoded values decoded; connect (42 / 203) with an AF_INET or
//! AF_INET6 `SOCKADDR` → NETWORK_CONNECTION; anything else → GENERIC_EVENT named by its
//! first record type.

use super::json::{event, set, set_opt, ts};
use super::{Adapter, Out, Record};
use serde_json::json;
use std::collections::BTreeMap;

/// Records held for one event at most (a runaway serial cannot grow without bound).
const MAX_RECORDS: usize = 256;
/// Serials open at once.
pub const MAX_OPEN: usize = 32;
/// Lines after its last record that a serial stays open without an `EOE`.
pub const MAX_AGE: usize = 128;

#[derive(Default)]
pub struct Auditd {
    /// Open events, oldest first.
    open: std::collections::VecDeque<Pending>,
}

struct Pending {
    /// `node` + serial.
    key: String,
    /// Line of the latest record.
    last: usize,
    serial: String,
    line: usize,
    secs: i64,
    nanos: i64,
    /// (record type, fields), in order.
    records: Vec<(String, BTreeMap<String, String>)>,
}

/// `key=value` pairs; values may be `"quoted"`, `'quoted'` (USER_* `msg='...'`) or bare.
pub fn fields(s: &str) -> Vec<(String, String, bool)> {
    let mut out = vec![];
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        let key = s[ks..i].to_string();
        i += 1;
        let quoted = i < b.len() && (b[i] == b'"' || b[i] == b'\'');
        let val = if quoted {
            let q = b[i];
            let vs = i + 1;
            i = vs;
            while i < b.len() && b[i] != q {
                i += 1;
            }
            let v = s[vs..i.min(b.len())].to_string();
            i += 1;
            v
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            s[vs..i].to_string()
        };
        out.push((key, val, quoted));
    }
    out
}

/// A bare value that is hex (audit encodes values with spaces or odd bytes so).
fn unhex(v: &str) -> Option<String> {
    if v.len() < 2 || !v.len().is_multiple_of(2) || !v.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    hex::decode(v).ok().map(|b| {
        let s: Vec<u8> = b
            .into_iter()
            .map(|c| if c == 0 { b' ' } else { c })
            .collect();
        String::from_utf8_lossy(&s).trim_end().to_string()
    })
}

/// Value of a field that audit writes quoted, or hex when unusual.
fn text(raw: &str, quoted: bool) -> String {
    if quoted {
        raw.to_string()
    } else {
        unhex(raw).unwrap_or_else(|| raw.to_string())
    }
}

/// SOCKADDR `saddr` hex → (ip, port) for AF_INET / AF_INET6.
pub fn sockaddr(h: &str) -> Option<(String, u16)> {
    let b = hex::decode(h).ok()?;
    if b.len() < 8 {
        return None;
    }
    let fam = u16::from_le_bytes([b[0], b[1]]);
    let port = u16::from_be_bytes([b[2], b[3]]);
    match fam {
        2 => Some((
            std::net::Ipv4Addr::new(b[4], b[5], b[6], b[7]).to_string(),
            port,
        )),
        10 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            Some((std::net::Ipv6Addr::from(a).to_string(), port))
        }
        _ => None,
    }
}

/// `audit(1602054316.123:456)` → (secs, nanos, serial).
fn stamp(msg: &str) -> Option<(i64, i64, String)> {
    let inner = msg.strip_prefix("audit(")?.split(')').next()?;
    let (t, serial) = inner.split_once(':')?;
    let (secs, frac) = t.split_once('.').unwrap_or((t, "0"));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    Some((secs.parse().ok()?, frac.parse().ok()?, serial.to_string()))
}

impl Auditd {
    fn flush_at(&mut self, i: usize, out: &mut Vec<Out>) {
        let Some(p) = self.open.remove(i) else { return };
        if p.records.is_empty() {
            return;
        }
        out.push(Out {
            line: p.line,
            udm: to_udm(&p),
        });
    }
    fn flush_all(&mut self, out: &mut Vec<Out>) {
        while !self.open.is_empty() {
            self.flush_at(0, out);
        }
    }
}

fn to_udm(p: &Pending) -> serde_json::Value {
    let find = |t: &str| p.records.iter().find(|r| r.0 == t).map(|r| &r.1);
    let sc = find("SYSCALL");
    let g = |k: &str| sc.and_then(|m| m.get(k)).cloned();
    let arch = g("arch").unwrap_or_default();
    let nr = g("syscall").unwrap_or_default();
    let aarch64 = arch == "c00000b7";
    let execve = matches!(nr.as_str(), "execve" | "execveat")
        || (!aarch64 && (nr == "59" || nr == "322"))
        || (aarch64 && (nr == "221" || nr == "281"));
    let connect = nr == "connect" || (!aarch64 && nr == "42") || (aarch64 && nr == "203");
    let exe = g("exe");
    let mut e = event("GENERIC_EVENT", "Linux", "AuditD");
    set(&mut e, "metadata.event_timestamp", ts(p.secs, p.nanos));
    set(&mut e, "metadata.product_log_id", p.serial.clone());
    set(
        &mut e,
        "metadata.product_event_type",
        p.records.first().map(|r| r.0.clone()).unwrap_or_default(),
    );
    set_opt(
        &mut e,
        "principal.hostname",
        p.records[0].1.get("node").cloned(),
    );
    set_opt(&mut e, "principal.user.userid", g("uid"));
    if let Some(k) = g("key").filter(|k| k != "(null)") {
        set(&mut e, "security_result", json!([{"rule_name": k}]));
    }
    if execve {
        set(&mut e, "metadata.event_type", "PROCESS_LAUNCH");
        let path = exe.or_else(|| {
            p.records
                .iter()
                .find(|r| r.0 == "PATH" && r.1.get("item").is_some_and(|i| i == "0"))
                .and_then(|r| r.1.get("name").cloned())
        });
        set_opt(&mut e, "target.process.file.full_path", path);
        let cmd = find("EXECVE")
            .map(|m| {
                let argc: usize = m.get("argc").and_then(|a| a.parse().ok()).unwrap_or(0);
                (0..argc.min(4096))
                    .filter_map(|i| m.get(&format!("a{i}")).cloned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|c| !c.is_empty())
            .or_else(|| find("PROCTITLE").and_then(|m| m.get("proctitle").cloned()));
        set_opt(&mut e, "target.process.command_line", cmd);
        set_opt(
            &mut e,
            "target.process.pid",
            g("pid").and_then(|x| x.parse::<u64>().ok()),
        );
        set_opt(
            &mut e,
            "principal.process.pid",
            g("ppid").and_then(|x| x.parse::<u64>().ok()),
        );
        set_opt(&mut e, "target.user.userid", g("euid"));
    } else {
        set_opt(&mut e, "principal.process.file.full_path", exe);
        set_opt(
            &mut e,
            "principal.process.pid",
            g("pid").and_then(|x| x.parse::<u64>().ok()),
        );
        let dest = find("SOCKADDR")
            .and_then(|m| m.get("saddr"))
            .and_then(|h| sockaddr(h));
        if let (true, Some((ip, port))) = (connect, dest) {
            set(&mut e, "metadata.event_type", "NETWORK_CONNECTION");
            set(&mut e, "target.ip", json!([ip]));
            set(&mut e, "target.port", port);
            set(&mut e, "network.direction", "OUTBOUND");
        }
    }
    if let Some(cwd) = find("CWD").and_then(|m| m.get("cwd")) {
        set(&mut e, "additional.fields.cwd", cwd.clone());
    }
    e.into_value()
}

impl Adapter for Auditd {
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        let Record::Text(l) = rec else {
            return Err("expected an audit log line".into());
        };
        let (mut node, mut ty, mut st) = (None, None, None);
        let mut body = BTreeMap::new();
        // A quoted EXECVE arg is literal, a bare one may be hex.
        let mut raw_iter = l;
        if let Some(i) = l.find("): ") {
            raw_iter = &l[i + 3..];
        }
        for (k, v, _) in fields(&l[..l.find("): ").map(|i| i + 1).unwrap_or(l.len())]) {
            match k.as_str() {
                "node" => node = Some(v),
                "type" => ty = Some(v),
                "msg" => st = stamp(&v),
                _ => {}
            }
        }
        let ty = ty.ok_or("no type= (not an audit record?)")?;
        let Some((secs, nanos, serial)) = st else {
            // The kernel writes records it cannot name as `type=UNKNOWN[n] msg=?`: no
            // time, no serial, so an event of its own.
            let mut e = event("GENERIC_EVENT", "Linux", "AuditD");
            set(&mut e, "metadata.product_event_type", ty);
            out.push(Out {
                line,
                udm: e.into_value(),
            });
            return Ok(());
        };
        for (k, v, q) in fields(raw_iter) {
            let hexable = (ty == "EXECVE" && k.starts_with('a') && k != "argc")
                || matches!(k.as_str(), "exe" | "proctitle" | "name" | "cwd" | "comm");
            let v = if hexable { text(&v, q) } else { v };
            body.insert(k, v);
        }
        let key = format!("{}\u{1f}{serial}", node.as_deref().unwrap_or(""));
        if let Some(n) = node {
            body.insert("node".into(), n);
        }
        // Serials quiet for too long are complete.
        let mut i = 0;
        while i < self.open.len() {
            if self.open[i].key != key && self.open[i].last.saturating_add(MAX_AGE) < line {
                self.flush_at(i, out);
            } else {
                i += 1;
            }
        }
        let at = self.open.iter().position(|p| p.key == key);
        if ty == "EOE" {
            if let Some(i) = at {
                self.flush_at(i, out);
            }
            return Ok(());
        }
        let i = match at {
            Some(i) => i,
            None => {
                if self.open.len() >= MAX_OPEN {
                    self.flush_at(0, out);
                }
                self.open.push_back(Pending {
                    key,
                    last: line,
                    serial,
                    line,
                    secs,
                    nanos,
                    records: vec![],
                });
                self.open.len() - 1
            }
        };
        let p = &mut self.open[i];
        p.last = line;
        if p.records.len() < MAX_RECORDS {
            p.records.push((ty, body));
        }
        Ok(())
    }
    fn finish(&mut self, out: &mut Vec<Out>) {
        self.flush_all(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_inet() {
        assert_eq!(
            sockaddr("02000050A9FEA9FE0000000000000000"),
            Some(("169.254.169.254".into(), 80))
        );
        assert_eq!(sockaddr("01002F746D70"), None);
    }

    #[test]
    fn hex_and_quoted() {
        let f = fields(r#"argc=3 a0="xmrig" a1=2D6F a2='x y'"#);
        assert_eq!(f[1], ("a0".into(), "xmrig".into(), true));
        assert_eq!(unhex(&f[2].1).unwrap(), "-o");
        assert_eq!(f[3].1, "x y");
    }
}
