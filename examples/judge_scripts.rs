//! False-positive check for `imgscan::behaviour`: walk a rootfs tar, judge every shell
//! script in it (by `#!` line, dpkg maintainer scripts, init scripts, cron files, profiles)
//! as one command sequence, and print whatever is judged. On a clean Debian rootfs it must
//! print nothing but the summary.
//!
//! cargo run --example judge_scripts -- ~/.cache/imgscan/debian-bookworm-minbase-*.tar

use std::io::Read;

const MAX_FILE: u64 = 1 << 20;

fn is_script(path: &str, head: &[u8]) -> bool {
    if let Some(first) = head.strip_prefix(b"#!") {
        let line = first.split(|&b| b == b'\n').next().unwrap_or(b"");
        let line = String::from_utf8_lossy(line);
        return line.contains("sh") && !line.contains("python") && !line.contains("perl");
    }
    let p = path.trim_start_matches("./");
    (p.starts_with("var/lib/dpkg/info/")
        && [".postinst", ".preinst", ".postrm", ".prerm", ".config"]
            .iter()
            .any(|e| p.ends_with(e)))
        || p.starts_with("etc/init.d/")
        || p.starts_with("etc/cron")
        || p.starts_with("etc/profile")
        || p.ends_with(".bashrc")
        || p.ends_with(".profile")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let g = imgscan::behaviour::Grammar::embedded();
    for arg in std::env::args().skip(1) {
        let mut ar = tar::Archive::new(std::fs::File::open(&arg)?);
        let (mut scripts, mut commands, mut found) = (0usize, 0usize, 0usize);
        for e in ar.entries()? {
            let mut e = e?;
            if e.header().entry_type() != tar::EntryType::Regular || e.size() > MAX_FILE {
                continue;
            }
            let path = e.path()?.to_string_lossy().into_owned();
            let mut buf = Vec::new();
            e.by_ref().take(MAX_FILE).read_to_end(&mut buf)?;
            if buf.contains(&0) || !is_script(&path, &buf) {
                continue;
            }
            scripts += 1;
            let text = String::from_utf8_lossy(&buf);
            let cmds = imgscan::behaviour::script_commands(&text);
            commands += cmds.len();
            for b in imgscan::behaviour::judge(&g, &cmds) {
                found += 1;
                println!(
                    "{path}:{}: {:?} {} | {}",
                    b.line.unwrap_or(0),
                    b.kind,
                    b.signature,
                    b.excerpt
                );
            }
        }
        println!("{arg}: {scripts} scripts, {commands} commands judged, {found} behaviours");
    }
    Ok(())
}
