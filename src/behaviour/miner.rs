//! A miner's command line by its grammar, whatever the program is called.
//!
//! `nginx -o pool.example.net:3333 -u 4AbC…(95) --donate-level 1` is a miner: a pool option
//! whose value is an endpoint (`host:port`, `stratum+tcp://…`) plus one more option that
//! counts. An option counts only with a value that means mining: a user that looks like a
//! wallet or pool login, a known algorithm or coin, a computed thread count (`$(nproc)`),
//! or an option only miners have (`--donate-level`, `--nicehash`). Without an endpoint
//! (a config file holds it) two of algorithm, coin and miner-only options are needed, one
//! of them an algorithm, a coin or a miner-only option with a value. A lone `-o host:port`
//! (`ssh -o`, `curl -o file`, `gcc -o out`) is not a miner.

use super::{excerpt, program_index, words, Behaviour, BehaviourKind, Grammar, Role, ShellCommand};
use std::collections::BTreeSet;

/// Programs that print their arguments rather than run them.
const PRINTERS: &[&str] = &["echo", "printf"];

/// Whether `v` is a pool endpoint: a stratum URL or `host:port`.
pub(crate) fn endpoint(v: &str) -> bool {
    let v = v.split(',').next().unwrap_or(v).to_ascii_lowercase();
    let hostport = match v.split_once("://") {
        Some((scheme, rest)) if scheme.starts_with("stratum") => return !rest.is_empty(),
        Some(("ssl" | "tcp", rest)) => rest.trim_end_matches('/'),
        Some(_) => return false,
        None => v.as_str(),
    };
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        && host.bytes().any(|b| b.is_ascii_alphabetic() || b == b'.');
    port_ok && host_ok
}

/// Whether `v` looks like a wallet or pool login (`COIN:ADDR.worker`, an e-mail login).
fn wallet_like(v: &str) -> bool {
    // `-O user:pass`, `LTC:addr` (coin prefix): take the longest ':'-separated part.
    let part = v.split(':').max_by_key(|p| p.len()).unwrap_or(v);
    if part.contains('@') {
        let (user, domain) = part.split_once('@').unwrap_or(("", ""));
        return !user.is_empty() && domain.contains('.') && !domain.contains('/');
    }
    let token = part.split(['.', '+', '#', '/']).next().unwrap_or(part);
    token.len() >= 26 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The miner command line in `c`, if it is one.
pub fn judge(g: &Grammar, c: &ShellCommand) -> Option<Behaviour> {
    let w = words(c);
    let p = program_index(w)?;
    if PRINTERS.contains(&super::base(&w[p])) {
        return None;
    }
    let mut roles = BTreeSet::new();
    let mut flags = BTreeSet::new();
    let mut valued_flag = false;
    let mut i = p + 1;
    while i < w.len() {
        let word = w[i].as_str();
        i += 1;
        let Some((opt, value, used_next)) = option_at(g, word, w.get(i).map(String::as_str)) else {
            continue;
        };
        if used_next {
            i += 1;
        }
        let v = value.unwrap_or("");
        let counts = match opt.role {
            Role::Pool => endpoint(v),
            Role::User => wallet_like(v),
            Role::Algo => g.algorithms.iter().any(|a| a.eq_ignore_ascii_case(v)),
            Role::Coin => g.coins.iter().any(|a| a.eq_ignore_ascii_case(v)),
            Role::Threads => {
                v.contains("nproc")
                    || v.contains("cpuinfo")
                    || (opt.name.starts_with("--") && v.parse::<u32>().is_ok())
            }
            Role::Flag => {
                flags.insert(opt.name.as_str());
                valued_flag |= opt.takes_value;
                true
            }
        };
        if counts {
            roles.insert(opt.role);
        }
    }
    let pool = roles.contains(&Role::Pool);
    let others = roles.len() - usize::from(pool);
    let strong = usize::from(roles.contains(&Role::Algo))
        + usize::from(roles.contains(&Role::Coin))
        + flags.len();
    let decisive = roles.contains(&Role::Algo) || roles.contains(&Role::Coin) || valued_flag;
    let miner = (pool && others >= 1) || (!pool && strong >= 2 && decisive);
    if !miner {
        return None;
    }
    let names: Vec<&str> = roles
        .iter()
        .map(|r| match r {
            Role::Pool => "pool",
            Role::User => "user",
            Role::Algo => "algo",
            Role::Coin => "coin",
            Role::Threads => "threads",
            Role::Flag => "flag",
        })
        .collect();
    Some(Behaviour {
        kind: BehaviourKind::MinerCommand,
        signature: format!("miner-cmdline:{}", names.join("+")),
        excerpt: excerpt(&c.text),
        line: Some(c.line),
    })
}

/// The miner option `word` is (`-o V`, `-o=V`, `--url=V`, `-oV`), its value, and whether
/// the value is the next word.
fn option_at<'a>(
    g: &'a Grammar,
    word: &'a str,
    next: Option<&'a str>,
) -> Option<(&'a super::MinerOption, Option<&'a str>, bool)> {
    if !word.starts_with('-') {
        return None;
    }
    if let Some(o) = g.option(word) {
        return Some(match (o.takes_value, next) {
            (true, Some(n)) => (o, Some(n), true),
            _ => (o, None, false),
        });
    }
    if let Some((name, v)) = word.split_once('=') {
        return g.option(name).map(|o| (o, Some(v), false));
    }
    // `-ohost:3333`: a one-letter option with its value attached.
    if word.len() > 2 && !word.starts_with("--") && word.is_char_boundary(2) {
        let o = g.option(&word[..2]).filter(|o| o.takes_value)?;
        return Some((o, Some(&word[2..]), false));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::BehaviourKind::MinerCommand;
    use super::*;

    const W: &str = "43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43UBbzPeaQxCRysdjYTtdc8aHao7csiWa5BTP9PfNYzyfSbbrwoR";

    #[test]
    fn endpoints() {
        assert!(endpoint("pool.supportxmr.com:5555"));
        assert!(endpoint("stratum+ssl://gulf.moneroocean.stream:443"));
        assert!(endpoint("stratum2+tcp://x"));
        assert!(endpoint("198.51.100.7:3333"));
        assert!(!endpoint("StrictHostKeyChecking=no"));
        assert!(!endpoint("8080:80"));
        assert!(!endpoint("127.0.0.1:8080:80"));
        assert!(!endpoint("https://example.com:443"));
        assert!(!endpoint("out.o"));
    }

    #[test]
    fn miners_by_grammar_whatever_their_name() {
        for cmd in [
            format!("nginx -o pool.example.net:3333 -u {W} --donate-level 1"),
            format!("$APP --url=stratum+tcp://198.51.100.7:4444 --user={W} -p x"),
            format!("./a -o 198.51.100.7:80 -u {W}.rig1 -k"),
            "./x -a rx/0 -o pool.example.net:10128 -u x -p y".into(),
            "exec ./systemd-helper --algo=rx/0 --donate-level=0 -c /etc/c.json".into(),
            "./t -a kawpow -o stratum+tcp://rvn.example.org:3333 -u RVNaddr -p x -w w1".into(),
            "./SRBMiner-MULTI --algorithm ghostrider --pool pool.example.org:5040 --wallet X --cpu-threads $(nproc)".into(),
            "./lol --algo ETHASH --pool eu1.example.org:14444 --user 0x27cd1fe7c5946611d70f45d0d89c514f4106a08f.w --tls 0".into(),
            format!("./p -pool ssl://eu1.example.org:5555 -wal {W} -coin etc"),
            "./cpuminer -a sha256d -o stratum+tcp://s.example.org:3333 -u me@example.org -t 2".into(),
            "./g --algo kawpow --server rvn.example.org:6060 --user RVNx".into(),
            "./x -ostratum+tcp://p.example.org:3333 --threads $(nproc)".into(),
        ] {
            assert_eq!(kinds(&cmd), [MinerCommand], "{cmd}");
        }
        assert_eq!(
            run(&format!(
                "nginx -o pool.example.net:3333 -u {W} --donate-level 1 -a rx/0"
            ))[0]
                .1,
            "miner-cmdline:pool+user+algo+flag"
        );
    }

    #[test]
    fn look_alikes_are_not_miners() {
        for cmd in [
            "nginx -g 'daemon off;'",
            "ssh -o StrictHostKeyChecking=no -p 2222 user@host.example.org",
            "ssh -o ProxyCommand=x bastion.example.org:22 -u",
            "curl -fsSL -o /tmp/x.tgz -u user:pass https://example.org/x.tgz",
            "gcc -o out main.c -a",
            "docker run -p 127.0.0.1:8080:80 -u 1000 -t img",
            "kubectl --server=https://10.0.0.1:6443 --user=admin get pods",
            "kubectl --server 10.0.0.1:6443 --user admin get pods",
            "mysql -u root -h db.example.org -P 3306",
            "xargs -P 4 -t rm",
            "wget -O /tmp/file -P /tmp https://example.org/a",
            "gunicorn --threads 4 -b 0.0.0.0:8000 app:app",
            "redis-server --port 6379 --tls-port 6380",
            "echo ./x -o pool.example.net:3333 -u 43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43U --donate-level 1",
            "uname -a",
            "sort -o out -u in.txt",
            "ssh -o host.example.org:22 -t",
            "nc -o trace.example.org:1 -a",
        ] {
            assert!(run(cmd).is_empty(), "{cmd}: {:?}", run(cmd));
        }
        // A lone endpoint, or a miner flag alone, is not enough.
        assert!(run("./x -o pool.example.net:3333").is_empty());
        assert!(run("./x --nicehash --tls").is_empty());
    }
}
