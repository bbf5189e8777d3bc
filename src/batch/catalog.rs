//! A registry's repositories and tags: `GET /v2/_catalog` and `GET /v2/NAME/tags/list`,
//! both paginated (`?n=` and the `Link: <...>; rel="next"` header), every body bounded by
//! `--max-json-bytes`, at most [`MAX_PAGES`] pages and [`super::MAX_TARGETS`] references.
//!
//! ```text
//! list("registry.internal:5000/team", Tags::Latest, &opts)
//!   -> ["registry.internal:5000/team/api:latest", "registry.internal:5000/team/web:latest"]
//! ```
//!
//! Authentication: anonymous, or the credentials a pull from `HOST` would use (the
//! `--username`/`--password-stdin` pair, else the docker config's `auths` or credential
//! helper, as `crate::source::registry::resolve_credentials` finds them) as basic auth; a `401` with a `Bearer` challenge is answered once per request with a
//! token from the challenge's realm (scope `registry:catalog:*` for the catalog,
//! `repository:NAME:pull` for tags). TLS as for pulls: verified, plain HTTP only with
//! `--insecure` when the registry does not speak TLS at all.

use super::MAX_TARGETS;
use crate::source::SourceOptions;
use std::time::Duration;

/// Most pages followed per listing.
pub const MAX_PAGES: usize = 1000;
/// Entries asked for per page.
const PAGE: usize = 1000;

/// Which tags of each repository to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tags {
    /// Only `latest` (repositories without it are skipped).
    Latest,
    All,
    /// The last N in the registry's (lexically sorted) order.
    Last(usize),
}

impl Tags {
    pub fn parse(s: &str) -> Result<Tags, String> {
        match s {
            "latest" => Ok(Tags::Latest),
            "all" => Ok(Tags::All),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Tags::Last(n)),
                _ => Err(format!("--tags {s:?}: latest, all or a count (e.g. 3)")),
            },
        }
    }

    fn pick(self, mut tags: Vec<String>) -> Vec<String> {
        match self {
            Tags::Latest => tags.into_iter().filter(|t| t == "latest").collect(),
            Tags::All => tags,
            Tags::Last(n) => {
                tags.sort();
                let skip = tags.len().saturating_sub(n);
                tags.split_off(skip)
            }
        }
    }
}

/// Every `HOST/REPO:TAG` of the registry `spec` (`HOST[:PORT][/PREFIX]`) whose
/// repository is `PREFIX` or below it, with the tags `tags` picks; sorted.
pub fn list(spec: &str, tags: Tags, opts: &SourceOptions) -> Result<Vec<String>, String> {
    let spec = spec.trim_end_matches('/');
    let (host, prefix) = match spec.split_once('/') {
        Some((h, p)) => (h.to_string(), Some(p.to_string())),
        None => (spec.to_string(), None),
    };
    if host.is_empty() || host.contains("://") {
        return Err(format!(
            "registry {spec:?}: expected HOST[:PORT][/PREFIX], e.g. registry.internal:5000/team"
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the network runtime: {e}"))?;
    // Block from a plain thread so that a caller inside a runtime is not hurt.
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(list_async(&host, prefix.as_deref(), tags, opts)))
            .join()
            .unwrap_or_else(|_| Err("internal error: listing thread panicked".into()))
    })
}

#[derive(serde::Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

struct Lister {
    http: reqwest::Client,
    base: String,
    /// `Basic ...` for the registry, when it has credentials.
    basic: Option<String>,
    /// `--max-json-bytes`: largest page read.
    json_bytes: u64,
}

async fn list_async(
    host: &str,
    prefix: Option<&str>,
    tags: Tags,
    opts: &SourceOptions,
) -> Result<Vec<String>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut certs = Vec::new();
    for p in &opts.ca_certs {
        let pem = std::fs::read(p).map_err(|e| format!("--ca-cert {}: {e}", p.display()))?;
        certs.extend(
            reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("--ca-cert {}: {e}", p.display()))?,
        );
    }
    let timeout = opts.timeout.min(Duration::from_secs(300));
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(opts.insecure)
        .tls_certs_merge(certs)
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("imgscan/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let mut base = format!("https://{host}");
    if opts.insecure && http.get(format!("{base}/v2/")).send().await.is_err() {
        base = format!("http://{host}");
    }
    let basic = crate::source::registry::resolve_credentials(host, opts)
        .map_err(|e| format!("credentials for {host}: {e}"))?
        .map(|c| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password))
            )
        });
    let l = Lister {
        http,
        base,
        basic,
        json_bytes: opts.limits.json_bytes,
    };
    let mut repos = l
        .paged("/v2/_catalog", "registry:catalog:*", |b| {
            serde_json::from_slice::<Catalog>(b)
                .map(|c| c.repositories.unwrap_or_default())
                .map_err(|e| format!("the catalog is not valid JSON: {e}"))
        })
        .await
        .map_err(|e| format!("listing the repositories of {host}: {e}"))?;
    if let Some(p) = prefix {
        repos.retain(|r| r == p || r.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')));
    }
    repos.sort();
    repos.dedup();
    let mut out = Vec::new();
    for repo in repos {
        let path = format!("/v2/{repo}/tags/list");
        let found = l
            .paged(&path, &format!("repository:{repo}:pull"), |b| {
                serde_json::from_slice::<TagList>(b)
                    .map(|t| t.tags.unwrap_or_default())
                    .map_err(|e| format!("the tag list is not valid JSON: {e}"))
            })
            .await
            .map_err(|e| format!("listing the tags of {host}/{repo}: {e}"))?;
        for t in tags.pick(found) {
            out.push(format!("{host}/{repo}:{t}"));
            if out.len() > MAX_TARGETS {
                return Err(format!(
                    "{host}: more than {MAX_TARGETS} images; narrow it with a PREFIX or --tags"
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Lister {
    /// Follow `Link: rel="next"` from `path` collecting what `parse` finds in each page.
    async fn paged(
        &self,
        path: &str,
        scope: &str,
        parse: impl Fn(&[u8]) -> Result<Vec<String>, String>,
    ) -> Result<Vec<String>, String> {
        let mut url = format!("{}{path}?n={PAGE}", self.base);
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let (body, next) = self.get(&url, scope).await?;
            out.extend(parse(&body)?);
            if out.len() > MAX_TARGETS {
                return Err(format!("more than {MAX_TARGETS} entries"));
            }
            match next {
                Some(n) if n.starts_with('/') => url = format!("{}{n}", self.base),
                Some(n) if n.starts_with(&self.base) => url = n,
                Some(n) => return Err(format!("next page {n:?} is on another host")),
                None => return Ok(out),
            }
        }
        Err(format!("more than {MAX_PAGES} pages"))
    }

    /// GET `url`: the body (bounded) and the next page's URL, answering one Bearer
    /// challenge.
    async fn get(&self, url: &str, scope: &str) -> Result<(Vec<u8>, Option<String>), String> {
        let mut auth = self.basic();
        for attempt in 0..2 {
            let mut req = self.http.get(url);
            if let Some(a) = &auth {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            if status.as_u16() == 401 && attempt == 0 {
                let challenge = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if let Some(token) = self.token(&challenge, scope).await? {
                    auth = Some(format!("Bearer {token}"));
                    continue;
                }
            }
            if !status.is_success() {
                return Err(match status.as_u16() {
                    401 => "authentication required (log in with docker login, or use --docker-config or --username/--password-stdin)".into(),
                    403 => "access denied (403 Forbidden)".into(),
                    404 => "not found (the registry may not offer a catalog)".into(),
                    _ => format!("registry answered {status}"),
                });
            }
            let next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = self.bounded(resp).await?;
            return Ok((body, next));
        }
        Err("authentication failed".into())
    }

    fn basic(&self) -> Option<String> {
        self.basic.clone()
    }

    /// A token for `scope` from a `Bearer realm=...,service=...` challenge.
    async fn token(&self, challenge: &str, scope: &str) -> Result<Option<String>, String> {
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return Ok(None);
        };
        let mut realm = None;
        let mut service = None;
        for part in split_params(params) {
            if let Some((k, v)) = part.split_once('=') {
                let v = v.trim().trim_matches('"').to_string();
                match k.trim() {
                    "realm" => realm = Some(v),
                    "service" => service = Some(v),
                    _ => {}
                }
            }
        }
        let Some(realm) = realm else { return Ok(None) };
        let mut params = vec![("scope", scope.to_string())];
        if let Some(s) = service {
            params.push(("service", s));
        }
        let u = reqwest::Url::parse_with_params(&realm, &params)
            .map_err(|e| format!("token realm {realm:?}: {e}"))?;
        let mut req = self.http.get(u);
        if let Some(b) = self.basic() {
            req = req.header(reqwest::header::AUTHORIZATION, b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("token from {realm}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("token from {realm}: {}", resp.status()));
        }
        let body = self.bounded(resp).await?;
        #[derive(serde::Deserialize)]
        struct T {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: T = serde_json::from_slice(&body).map_err(|e| format!("token from {realm}: {e}"))?;
        Ok(t.token.or(t.access_token))
    }

    async fn bounded(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
        let limit = self.json_bytes;
        let mut body = Vec::new();
        while let Some(c) = resp.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&c);
            if body.len() as u64 > limit {
                return Err(format!(
                    "a listing page is larger than the {limit}-byte limit (--max-json-bytes)"
                ));
            }
        }
        Ok(body)
    }
}

/// Split `a="x,y",b=z` at the commas outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The URL of `Link: <URL>; rel="next"`.
fn next_link(h: &str) -> Option<String> {
    h.split(',').find_map(|l| {
        let (url, rest) = l.trim().strip_prefix('<')?.split_once('>')?;
        rest.contains("rel=\"next\"").then(|| url.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_tags_and_challenges() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Tags::Latest.pick(t(&["1", "latest"])), ["latest"]);
        assert_eq!(Tags::Last(2).pick(t(&["c", "a", "b"])), ["b", "c"]);
        assert_eq!(Tags::parse("3").unwrap(), Tags::Last(3));
        assert!(Tags::parse("0").is_err());
        assert_eq!(
            split_params(r#"realm="h",scope="a:b:pull,push",service="s""#),
            [r#"realm="h""#, r#"scope="a:b:pull,push""#, r#"service="s""#]
        );
    }
}
