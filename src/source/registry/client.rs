//! The HTTP side of a registry pull: one [`Session`] per registry repository with the
//! TLS settings, the `Authorization` header (from [`Authorizer`], which drives
//! `oci-client`'s challenge and token exchange), retries with backoff honouring
//! `Retry-After`, bounded body reads and one overall deadline. Errors are turned into
//! sentences with the flag that may help (`--insecure`, `--ca-cert`, `--timeout`).

use super::auth::{self, Credentials};
use super::{Fail, R};
use crate::error::Step;
use crate::reference::Reference;
use crate::source::SourceOptions;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;

/// Attempts per request when the registry answers 429 or 5xx.
pub const MAX_ATTEMPTS: u32 = 4;
/// First backoff when no `Retry-After` is given; doubles each attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// Longest `Retry-After` honoured; longer waits fail instead of stalling a scan.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Retries (after 429/5xx, and blob resumes) one pull may make in all, whatever the
/// number of requests: a registry in a 503 storm fails the pull instead of being asked
/// `MAX_ATTEMPTS` times for every layer.
pub const RETRY_BUDGET: u32 = 8;

/// Redirects followed for one request (reqwest's and Go's default).
pub const MAX_REDIRECTS: usize = 10;

/// One connection to one registry repository: base URL, HTTP client, auth header.
pub(super) struct Session {
    /// Follows no redirects by itself (see [`Session::send_following`]).
    http: reqwest::Client,
    /// `https://host:port` or `http://host:port`.
    base: String,
    repository: String,
    /// `Authorization` value for requests to `base` (never to other hosts); replaced
    /// when a bearer token expires during a long pull.
    authorization: std::sync::Mutex<Option<String>>,
    authorizer: Authorizer,
    /// Whether credentials were supplied (changes the wording of a 401).
    credentialed: bool,
    pub(super) deadline: Instant,
    pub(super) timeout: Duration,
    json_limit: u64,
    /// What is left of [`RETRY_BUDGET`].
    retries_left: std::sync::atomic::AtomicU32,
}

/// Is this reqwest error (or anything under it) about TLS?
fn tls_related(chain: &str) -> bool {
    let c = chain.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "unknownissuer",
        "ssl",
    ]
    .iter()
    .any(|k| c.contains(k))
}

pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}

/// Describe a transport error for a person, with the flag that may help.
fn describe_transport(e: &reqwest::Error, host: &str, https: bool) -> String {
    let chain = error_chain(e);
    if https && tls_related(&chain) {
        format!("TLS connection to {host} failed ({chain}); use --insecure for a plain-HTTP or self-signed registry, or --ca-cert to trust its CA")
    } else if e.is_timeout() {
        format!("request to {host} timed out ({chain})")
    } else if e.is_connect() {
        format!("cannot connect to {host} ({chain})")
    } else {
        format!("request to {host} failed ({chain})")
    }
}

fn load_certs(
    opts: &SourceOptions,
) -> R<(
    Vec<reqwest::Certificate>,
    Vec<oci_client::client::Certificate>,
)> {
    let mut rq = Vec::new();
    let mut oci = Vec::new();
    for path in &opts.ca_certs {
        let pem = std::fs::read(path).map_err(|e| {
            (
                Step::Pulling,
                format!("reading CA certificate {}: {e}", path.display()),
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            (
                Step::Pulling,
                format!("CA certificate {} is not PEM: {e}", path.display()),
            )
        })?;
        if certs.is_empty() {
            return Err((
                Step::Pulling,
                format!("no certificate in {}", path.display()),
            ));
        }
        rq.extend(certs);
        oci.push(oci_client::client::Certificate {
            encoding: oci_client::client::CertificateEncoding::Pem,
            data: pem,
        });
    }
    Ok((rq, oci))
}

pub(super) fn timed_out(timeout: Duration) -> Fail {
    (
        Step::Pulling,
        format!("timed out after {}s (--timeout)", timeout.as_secs_f64()),
    )
}

impl Session {
    pub(super) async fn connect(
        reference: &Reference,
        opts: &SourceOptions,
        deadline: Instant,
    ) -> R<Session> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let oci_ref = match &reference.digest {
            Some(d) => oci_client::Reference::with_digest(
                reference.registry.clone(),
                reference.repository.clone(),
                d.clone(),
            ),
            None => oci_client::Reference::with_tag(
                reference.registry.clone(),
                reference.repository.clone(),
                reference.tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        };
        let host = oci_ref.resolve_registry().to_string();
        let (rq_certs, oci_certs) = load_certs(opts)?;
        let client_with = |policy: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .danger_accept_invalid_certs(opts.insecure)
                .tls_certs_merge(rq_certs.clone())
                .connect_timeout(opts.timeout)
                .read_timeout(opts.timeout)
                .user_agent(concat!("imgscan/", env!("CARGO_PKG_VERSION")))
                .redirect(policy)
                .build()
                .map_err(|e| (Step::Pulling, format!("building the HTTP client: {e}")))
        };
        // For the token service (reqwest follows its redirects) and for the registry's
        // own requests, whose redirects `send_following` follows by hand.
        let http = client_with(reqwest::redirect::Policy::default())?;
        let registry_http = client_with(reqwest::redirect::Policy::none())?;

        // TLS first; plain HTTP only when allowed and TLS cannot be spoken at all.
        let mut https = true;
        if opts.insecure {
            let probe = http.get(format!("https://{host}/v2/")).send();
            match tokio::time::timeout_at(deadline, probe).await {
                Err(_) => return Err(timed_out(opts.timeout)),
                Ok(Ok(_)) => {}
                Ok(Err(_)) => https = false,
            }
        }
        let scheme = if https { "https" } else { "http" };
        let base = format!("{scheme}://{host}");

        let creds =
            auth::resolve(&reference.registry, opts).map_err(|e| (Step::Authenticating, e))?;
        let registry_auth = match &creds {
            Some(c) => {
                oci_client::secrets::RegistryAuth::Basic(c.username.clone(), c.password.clone())
            }
            None => oci_client::secrets::RegistryAuth::Anonymous,
        };
        let client = oci_client::Client::try_from(oci_client::client::ClientConfig {
            protocol: if https {
                oci_client::client::ClientProtocol::Https
            } else {
                oci_client::client::ClientProtocol::Http
            },
            accept_invalid_certificates: opts.insecure,
            extra_root_certificates: oci_certs,
            read_timeout: Some(opts.timeout),
            connect_timeout: Some(opts.timeout),
            ..Default::default()
        })
        .map_err(|e| (Step::Pulling, format!("building the registry client: {e}")))?;
        let authorizer = Authorizer {
            http: http.clone(),
            repository: reference.repository.clone(),
            client,
            oci_ref,
            registry_auth,
            creds,
            host,
            https,
            deadline,
            timeout: opts.timeout,
        };
        let authorization = authorizer.authorize().await?;
        Ok(Session {
            http: registry_http,
            base,
            repository: reference.repository.clone(),
            authorization: std::sync::Mutex::new(authorization),
            credentialed: authorizer.creds.is_some(),
            authorizer,
            deadline,
            timeout: opts.timeout,
            json_limit: opts.limits.json_bytes,
            retries_left: std::sync::atomic::AtomicU32::new(RETRY_BUDGET),
        })
    }

    /// Take one retry from the pull's [`RETRY_BUDGET`]; false when it is spent.
    pub(super) fn take_retry(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.retries_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// GET `path` (below `/v2/REPO/`); see [`Session::request`].
    pub(super) async fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        what: &str,
        step: Step,
    ) -> R<reqwest::Response> {
        self.request(reqwest::Method::GET, path, accept, None, what, step)
            .await
    }

    /// `method` `path` (below `/v2/REPO/`) on the registry, from byte `from` on when
    /// given (`Range: bytes=N-`), retrying 429 and 5xx with backoff (honouring
    /// `Retry-After`) up to [`MAX_ATTEMPTS`] and within the pull's [`RETRY_BUDGET`], all
    /// before the deadline. `what` names the object for 404s (`manifest`, `blob`).
    pub(super) async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        accept: Option<&str>,
        from: Option<u64>,
        what: &str,
        step: Step,
    ) -> R<reqwest::Response> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let current = self.authorization.lock().map(|a| a.clone()).unwrap_or(None);
            let send = self.send_following(&method, &url, accept, from, current.as_deref(), what);
            let resp = match tokio::time::timeout_at(self.deadline, send).await {
                Err(_) => return Err(timed_out(self.timeout)),
                Ok(Err(why)) => return Err((step, why)),
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            if status.is_success() {
                return Ok(resp);
            }
            let code = status.as_u16();
            // A bearer token can expire during a long pull: fetch a fresh one, once.
            if code == 401
                && !refreshed
                && current.as_deref().is_some_and(|a| a.starts_with("Bearer "))
            {
                refreshed = true;
                attempt -= 1;
                let fresh = self.authorizer.authorize().await?;
                if let Ok(mut a) = self.authorization.lock() {
                    *a = fresh;
                }
                continue;
            }
            if code == 429 || status.is_server_error() {
                if attempt >= MAX_ATTEMPTS {
                    return Err((
                        step,
                        format!("registry answered {status} {MAX_ATTEMPTS} times; giving up"),
                    ));
                }
                if !self.take_retry() {
                    return Err((
                        step,
                        format!("registry answered {status} for {what}; giving up: the pull's budget of {RETRY_BUDGET} retries is spent"),
                    ));
                }
                let wait = retry_after(&resp).unwrap_or(BASE_BACKOFF * 2u32.pow(attempt - 1));
                if wait > MAX_RETRY_AFTER {
                    return Err((
                        step,
                        format!("registry answered {status} and asks to retry after {}s, more than the {}s imgscan waits", wait.as_secs(), MAX_RETRY_AFTER.as_secs()),
                    ));
                }
                if Instant::now() + wait >= self.deadline {
                    return Err((
                        step,
                        format!("registry answered {status}; retrying after {}s would pass the --timeout of {}s", wait.as_secs_f64(), self.timeout.as_secs_f64()),
                    ));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(match code {
                401 if self.credentialed => (
                    Step::Authenticating,
                    "authentication failed: the registry rejected the credentials (use --username/--password-stdin or docker login)".to_string(),
                ),
                401 => (
                    Step::Authenticating,
                    "authentication required (use --username/--password-stdin or docker login)".to_string(),
                ),
                403 => (step, "access denied (403 Forbidden)".to_string()),
                404 => (step, format!("{what} unknown")),
                _ => (step, format!("registry answered {status} for {what}")),
            });
        }
    }

    /// Send `method` `url` and follow redirects (301, 302, 303, 307, 308) by hand, at most
    /// [`MAX_REDIRECTS`], to http(s) URLs only. `auth` goes to the registry's own
    /// scheme/host/port and, once a redirect has left it (blob storage, a CDN), to no
    /// later hop either, back on the registry or not. reqwest's own following would
    /// rebuild each hop from the first request's headers and compare a hop only with the
    /// one before: a second hop on the storage host would get the token back.
    async fn send_following(
        &self,
        method: &reqwest::Method,
        url: &str,
        accept: Option<&str>,
        from: Option<u64>,
        auth: Option<&str>,
        what: &str,
    ) -> Result<reqwest::Response, String> {
        let registry = reqwest::Url::parse(&self.base)
            .map_err(|e| format!("internal error: registry URL {}: {e}", self.base))?;
        let origin = |u: &reqwest::Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_string),
                u.port_or_known_default(),
            )
        };
        let mut url =
            reqwest::Url::parse(url).map_err(|e| format!("internal error: URL {url}: {e}"))?;
        let mut with_auth = auth.filter(|_| origin(&url) == origin(&registry));
        let mut hops = 0;
        loop {
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(a) = accept {
                req = req.header(reqwest::header::ACCEPT, a);
            }
            if let Some(n) = from {
                req = req.header(reqwest::header::RANGE, format!("bytes={n}-"));
            }
            if let Some(a) = with_auth {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            let host = url
                .host_str()
                .map_or_else(String::new, |h| match url.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                });
            let resp = req
                .send()
                .await
                .map_err(|e| describe_transport(&e, &host, url.scheme() == "https"))?;
            if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let Some(loc) = resp.headers().get(reqwest::header::LOCATION) else {
                return Ok(resp);
            };
            let loc = String::from_utf8_lossy(loc.as_bytes()).into_owned();
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(format!(
                    "more than {MAX_REDIRECTS} redirects for {what} (a redirect loop?); the last to {loc}"
                ));
            }
            let next = url.join(&loc).map_err(|e| {
                format!("{host} redirected {what} to an invalid location {loc:?} ({e})")
            })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(format!(
                    "{host} redirected {what} to {next}, which is not an http(s) URL; not followed"
                ));
            }
            if origin(&next) != origin(&registry) {
                with_auth = None;
            }
            url = next;
        }
    }

    /// Read a JSON document bounded by `limits.json_bytes`.
    pub(super) async fn read_bounded(
        &self,
        resp: reqwest::Response,
        step: Step,
        what: &str,
    ) -> R<Vec<u8>> {
        let limit = self.json_limit;
        let too_big = || {
            (
                step,
                format!("{what} is larger than the {limit}-byte limit (--max-json-bytes)"),
            )
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        loop {
            let next = tokio::time::timeout_at(self.deadline, stream.next())
                .await
                .map_err(|_| timed_out(self.timeout))?;
            match next {
                None => return Ok(body),
                Some(Err(e)) => return Err((step, format!("reading {what}: {}", error_chain(&e)))),
                Some(Ok(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        return Err(too_big());
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
    }
}

/// Obtains the `Authorization` header for a registry: a bearer token through
/// `oci-client`'s challenge/token exchange, or basic credentials when the registry asks
/// for basic auth (or for nothing).
pub(super) struct Authorizer {
    http: reqwest::Client,
    repository: String,
    client: oci_client::Client,
    oci_ref: oci_client::Reference,
    registry_auth: oci_client::secrets::RegistryAuth,
    creds: Option<Credentials>,
    host: String,
    https: bool,
    deadline: Instant,
    timeout: Duration,
}

impl Authorizer {
    async fn authorize(&self) -> R<Option<String>> {
        let creds = &self.creds;
        if let Some(c) = creds
            .as_ref()
            .filter(|c| c.username == auth::IDENTITY_TOKEN_USER)
        {
            return self.refresh(c).await;
        }
        let token = tokio::time::timeout_at(
            self.deadline,
            self.client.auth(
                &self.oci_ref,
                &self.registry_auth,
                oci_client::RegistryOperation::Pull,
            ),
        )
        .await
        .map_err(|_| timed_out(self.timeout))?;
        match token {
            Ok(Some(t)) => Ok(Some(format!("Bearer {t}"))),
            Ok(None) => Ok(creds.as_ref().map(|c| {
                use base64::Engine;
                let raw = format!("{}:{}", c.username, c.password);
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            })),
            Err(oci_client::errors::OciDistributionError::AuthenticationFailure(reason)) => {
                let reason: String = reason.trim().chars().take(200).collect();
                let what = match creds {
                    Some(c) => format!(
                        "authentication failed: the token service rejected the credentials of {} from {}",
                        c.username, c.origin
                    ),
                    None => "authentication required (use --username/--password-stdin or docker login)".into(),
                };
                Err((Step::Authenticating, format!("{what} ({reason})")))
            }
            Err(oci_client::errors::OciDistributionError::RequestError(e)) => Err((
                Step::Pulling,
                describe_transport(&e, &self.host, self.https),
            )),
            Err(e) => Err((Step::Authenticating, format!("token exchange failed: {e}"))),
        }
    }
}

impl Authorizer {
    /// Exchange an identity token (OAuth2 refresh token) for an access token, as Docker
    /// does: the registry's `Bearer` challenge names the realm and service, and the realm
    /// gets `POST grant_type=refresh_token`. A registry that challenges for nothing gets
    /// no header.
    async fn refresh(&self, c: &Credentials) -> R<Option<String>> {
        let scheme = if self.https { "https" } else { "http" };
        let transport = |e: reqwest::Error| {
            (
                Step::Authenticating,
                describe_transport(&e, &self.host, self.https),
            )
        };
        let probe = self
            .http
            .get(format!("{scheme}://{}/v2/", self.host))
            .send();
        let resp = tokio::time::timeout_at(self.deadline, probe)
            .await
            .map_err(|_| timed_out(self.timeout))?
            .map_err(transport)?;
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        let challenge = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let params = bearer_params(challenge).ok_or_else(|| {
            (
                Step::Authenticating,
                format!("{} gave an identity token, but the registry does not ask for a bearer token ({challenge:?})", c.origin),
            )
        })?;
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let realm = get("realm").unwrap_or("");
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", &c.password)
                .append_pair("client_id", "imgscan")
                .append_pair("scope", &format!("repository:{}:pull", self.repository));
            if let Some(s) = get("service") {
                form.append_pair("service", s);
            }
            form.finish()
        };
        let post = self
            .http
            .post(realm)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send();
        let resp = tokio::time::timeout_at(self.deadline, post)
            .await
            .map_err(|_| timed_out(self.timeout))?
            .map_err(transport)?;
        let status = resp.status();
        let body = tokio::time::timeout_at(self.deadline, resp.bytes())
            .await
            .map_err(|_| timed_out(self.timeout))?
            .map_err(transport)?;
        if !status.is_success() {
            return Err((
                Step::Authenticating,
                format!("authentication failed: the token service answered {status} to the identity token from {}", c.origin),
            ));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: Option<String>,
            token: Option<String>,
        }
        let token = serde_json::from_slice::<Answer>(&body[..body.len().min(1 << 20)])
            .ok()
            .and_then(|a| a.access_token.or(a.token))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                (
                    Step::Authenticating,
                    "the token service's answer to the identity token has no access_token"
                        .to_string(),
                )
            })?;
        Ok(Some(format!("Bearer {token}")))
    }
}

/// The parameters of a `Bearer k="v",k2="v2"` challenge (RFC 6750 §3), or `None` when
/// the challenge is not `Bearer`.
fn bearer_params(challenge: &str) -> Option<Vec<(String, String)>> {
    let (scheme, rest) = challenge.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = rest.trim();
    while let Some((k, v)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (val, tail) = match v.strip_prefix('"') {
            Some(q) => q.split_once('"').unwrap_or((q, "")),
            None => v.split_once(',').unwrap_or((v, "")),
        };
        out.push((k, val.to_string()));
        rest = tail.trim_start_matches(',').trim();
    }
    Some(out)
}

/// `Retry-After`: delay-seconds, or an HTTP date (RFC 9110 §10.2.3 allows both; Docker
/// Hub and some proxies send dates). A date in the past means "now".
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    parse_retry_after(v, std::time::SystemTime::now())
}

fn parse_retry_after(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::parse_retry_after;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn bearer_challenges_are_parsed() {
        let p = super::bearer_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull".into()));
        assert!(super::bearer_params(r#"Basic realm="x""#).is_none());
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00 GMT
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date already past: retry now, not never.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
        assert_eq!(parse_retry_after("-1", SystemTime::now()), None);
    }
}
