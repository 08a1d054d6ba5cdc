use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::redirect;
use url::{Host, Url};

use crate::extract::{DocKind, charset_param, extract_bytes, mime_essence, split_file_name};
use crate::ip::blocked_reason;
use crate::{Extracted, KnowledgeError};

/// Limits and address rules for [`fetch_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Allow loopback, private, link-local and other non-public addresses.
    /// Only for trusted single-user setups: it lets URLs reach the LAN and
    /// cloud metadata endpoints.
    pub allow_private: bool,
    /// Largest response body accepted, in bytes.
    pub max_bytes: usize,
    /// Budget for the whole fetch: DNS, connecting, every redirect hop and the body.
    pub timeout: Duration,
    pub max_redirects: usize,
    /// Individual non-public addresses to allow anyway (e.g. a wiki on the
    /// LAN) without opening up everything as `allow_private` does.
    pub allowed_ips: Vec<IpAddr>,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_private: false,
            max_bytes: 5 * 1024 * 1024,
            timeout: Duration::from_secs(15),
            max_redirects: 5,
            allowed_ips: Vec::new(),
        }
    }
}

const USER_AGENT: &str = concat!(
    "Avatarium/",
    env!("CARGO_PKG_VERSION"),
    " (knowledge-base import)"
);

/// Downloads an http(s) URL and extracts its text (HTML, plain text,
/// Markdown or PDF, by content type, falling back to the URL's extension).
///
/// Every hop is checked against `policy` before connecting: the host name is
/// resolved here, every address it resolves to must be public (unless
/// allowed by the policy), and the connection is then made to exactly those
/// addresses, so a DNS answer that changes between check and connect
/// (rebinding) cannot redirect the request. Proxies from the environment are
/// ignored for the same reason.
pub async fn fetch_url(url: &str, policy: &FetchPolicy) -> Result<Extracted, KnowledgeError> {
    let url = Url::parse(url.trim())
        .map_err(|e| KnowledgeError::Parse(format!("not a valid URL ({e})")))?;
    check_scheme(&url)?;
    let page = tokio::time::timeout(policy.timeout, download(url, policy))
        .await
        .map_err(|_| KnowledgeError::Timeout)??;

    let kind = page_kind(&page)?;
    let charset = page
        .content_type
        .as_deref()
        .and_then(charset_param)
        .map(str::to_owned);
    let fallback_title = url_title(&page.url);
    // Parsing a multi-megabyte PDF or page is CPU work that must not stall
    // the async runtime's worker threads.
    tokio::task::spawn_blocking(move || {
        extract_bytes(kind, &page.body, charset.as_deref(), fallback_title)
    })
    .await
    .map_err(|_| KnowledgeError::Parse("the document could not be processed".to_owned()))?
}

struct Page {
    url: Url,
    content_type: Option<String>,
    body: Vec<u8>,
}

fn page_kind(page: &Page) -> Result<DocKind, KnowledgeError> {
    let essence = page.content_type.as_deref().map(mime_essence);
    let ext_kind = page
        .url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .and_then(|last| split_file_name(last).1)
        .and_then(DocKind::from_extension);
    let declared = essence.as_deref().and_then(DocKind::from_content_type);
    let kind = DocKind::sniff(&page.body).or(match (declared, ext_kind) {
        // Raw-file hosts serve Markdown as text/plain; keep its headings.
        (Some(DocKind::Text), Some(DocKind::Markdown)) => Some(DocKind::Markdown),
        (Some(kind), _) => Some(kind),
        (None, ext) if is_generic(essence.as_deref()) => ext,
        (None, _) => None,
    });
    kind.ok_or_else(|| KnowledgeError::Unsupported(essence.unwrap_or_else(|| "unknown".into())))
}

/// Content types that say nothing about the format.
fn is_generic(essence: Option<&str>) -> bool {
    matches!(
        essence,
        None | Some("" | "application/octet-stream" | "binary/octet-stream")
    )
}

/// The last path segment without extension, else the host.
fn url_title(url: &Url) -> Option<String> {
    let last = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|s| !s.is_empty());
    if let Some(last) = last {
        let decoded = percent_encoding::percent_decode_str(last).decode_utf8_lossy();
        let stem = split_file_name(&decoded).0.trim().to_owned();
        if !stem.is_empty() {
            return Some(stem);
        }
    }
    url.host_str().map(str::to_owned)
}

fn check_scheme(url: &Url) -> Result<(), KnowledgeError> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        _ => Err(KnowledgeError::Blocked(
            "only http:// and https:// URLs can be fetched".to_owned(),
        )),
    }
}

async fn download(mut url: Url, policy: &FetchPolicy) -> Result<Page, KnowledgeError> {
    let mut redirects = 0;
    loop {
        let client = vetted_client(&url, policy).await?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut response = client
            .get(url.clone())
            .header(
                ACCEPT,
                "text/html,application/xhtml+xml,text/markdown,text/plain,application/pdf;q=0.9,*/*;q=0.5",
            )
            .send()
            .await
            .map_err(|e| request_error(&e, &host))?;
        let status = response.status();

        if status.is_redirection()
            && let Some(location) = response.headers().get(LOCATION)
        {
            redirects += 1;
            if redirects > policy.max_redirects {
                return Err(KnowledgeError::Fetch(format!(
                    "too many redirects (more than {})",
                    policy.max_redirects
                )));
            }
            let invalid =
                || KnowledgeError::Fetch("the server sent an invalid redirect".to_owned());
            let location = location.to_str().map_err(|_| invalid())?;
            url = url.join(location).map_err(|_| invalid())?;
            check_scheme(&url)?;
            continue;
        }
        if !status.is_success() {
            return Err(KnowledgeError::Fetch(format!(
                "the server answered {status}"
            )));
        }

        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let too_large = KnowledgeError::TooLarge {
            limit: policy.max_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > policy.max_bytes as u64)
        {
            return Err(too_large);
        }
        // Content-Length may be absent or wrong, so the limit is enforced
        // on the bytes actually received.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| body_error(&e))? {
            if body.len() + chunk.len() > policy.max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(Page {
            url,
            content_type,
            body,
        });
    }
}

/// Resolves and vets the URL's host, then builds a client that can only
/// connect to the vetted addresses.
async fn vetted_client(url: &Url, policy: &FetchPolicy) -> Result<reqwest::Client, KnowledgeError> {
    let builder = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        // A proxy would resolve the host itself, after our check.
        .no_proxy()
        // Any name without a vetted override fails instead of silently
        // going to the system resolver.
        .dns_resolver(Arc::new(RefuseDns))
        .user_agent(USER_AGENT);
    let builder = match url.host() {
        None => {
            return Err(KnowledgeError::Blocked("the URL has no host".to_owned()));
        }
        Some(Host::Ipv4(ip)) => {
            check_ip(ip.into(), None, policy)?;
            builder
        }
        Some(Host::Ipv6(ip)) => {
            check_ip(ip.into(), None, policy)?;
            builder
        }
        Some(Host::Domain(domain)) => {
            let port = url.port_or_known_default().unwrap_or(80);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
                .await
                .map_err(|e| {
                    tracing::debug!(%domain, error = %e, "DNS lookup failed");
                    KnowledgeError::Fetch(format!("could not find the server {domain}"))
                })?
                .collect();
            if addrs.is_empty() {
                return Err(KnowledgeError::Fetch(format!(
                    "could not find the server {domain}"
                )));
            }
            // One bad address is enough to refuse: the connector could pick any of them.
            for addr in &addrs {
                check_ip(addr.ip(), Some(domain), policy)?;
            }
            builder.resolve_to_addrs(domain, &addrs)
        }
    };
    builder.build().map_err(|e| {
        tracing::warn!(error = %e, "could not build HTTP client");
        KnowledgeError::Fetch("the HTTP client could not be set up".to_owned())
    })
}

/// Applies the address rules to one hop's address.
pub(crate) fn check_ip(
    ip: IpAddr,
    domain: Option<&str>,
    policy: &FetchPolicy,
) -> Result<(), KnowledgeError> {
    if policy.allow_private
        || policy
            .allowed_ips
            .iter()
            .any(|allowed| allowed.to_canonical() == ip.to_canonical())
    {
        return Ok(());
    }
    match blocked_reason(ip) {
        None => Ok(()),
        Some(reason) => Err(KnowledgeError::Blocked(match domain {
            Some(domain) => format!("{domain} points to {ip}, a {reason} address"),
            None => format!("{ip} is a {reason} address"),
        })),
    }
}

struct RefuseDns;

impl Resolve for RefuseDns {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_owned();
        Box::pin(
            async move { Err(format!("{name} was not resolved through the fetch policy").into()) },
        )
    }
}

fn request_error(error: &reqwest::Error, host: &str) -> KnowledgeError {
    tracing::debug!(error = ?error, %host, "fetch request failed");
    if error.is_timeout() {
        KnowledgeError::Timeout
    } else if error.is_connect() {
        KnowledgeError::Fetch(format!("could not connect to {host}"))
    } else {
        KnowledgeError::Fetch(format!("the request to {host} failed"))
    }
}

fn body_error(error: &reqwest::Error) -> KnowledgeError {
    tracing::debug!(error = ?error, "reading the response body failed");
    if error.is_timeout() {
        KnowledgeError::Timeout
    } else {
        KnowledgeError::Fetch("the connection broke off during the download".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_defaults() {
        let p = FetchPolicy::default();
        assert!(!p.allow_private);
        assert_eq!(p.max_bytes, 5 * 1024 * 1024);
        assert_eq!(p.timeout, Duration::from_secs(15));
        assert_eq!(p.max_redirects, 5);
        assert!(p.allowed_ips.is_empty());
    }

    #[test]
    fn hop_check() {
        let default = FetchPolicy::default();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(matches!(
            check_ip(lo, Some("localhost"), &default),
            Err(KnowledgeError::Blocked(m)) if m == "localhost points to 127.0.0.1, a loopback address"
        ));
        assert!(check_ip(mapped, None, &default).is_err());
        assert!(check_ip("8.8.8.8".parse().unwrap(), None, &default).is_ok());

        let allow_one = FetchPolicy {
            allowed_ips: vec![lo],
            ..FetchPolicy::default()
        };
        assert!(check_ip(lo, None, &allow_one).is_ok());
        assert!(check_ip(mapped, None, &allow_one).is_ok());
        assert!(check_ip("127.0.0.2".parse().unwrap(), None, &allow_one).is_err());

        let open = FetchPolicy {
            allow_private: true,
            ..FetchPolicy::default()
        };
        assert!(check_ip("10.0.0.1".parse().unwrap(), None, &open).is_ok());
    }

    #[tokio::test]
    async fn client_cannot_resolve_names_it_was_not_given() {
        // A listener that never answers: if the client resolved `localhost`
        // on its own, the request would connect and hang instead of failing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = FetchPolicy {
            allow_private: true,
            ..FetchPolicy::default()
        };
        let vetted = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let client = vetted_client(&vetted, &open).await.unwrap();
        let request = client.get(format!("http://localhost:{port}/")).send();
        let result = tokio::time::timeout(Duration::from_secs(5), request)
            .await
            .expect("must fail fast, not connect");
        assert!(result.unwrap_err().is_connect());
    }

    #[test]
    fn kind_of_fetched_page() {
        let page = |url: &str, ct: Option<&str>, body: &[u8]| Page {
            url: Url::parse(url).unwrap(),
            content_type: ct.map(str::to_owned),
            body: body.to_vec(),
        };
        let kind = |p: &Page| page_kind(p).ok();
        assert_eq!(
            kind(&page("http://h/a", Some("text/html; charset=utf-8"), b"")),
            Some(DocKind::Html)
        );
        assert_eq!(
            kind(&page("http://h/README.md", Some("text/plain"), b"")),
            Some(DocKind::Markdown)
        );
        assert_eq!(
            kind(&page(
                "http://h/doc",
                Some("application/octet-stream"),
                b"%PDF-1.4"
            )),
            Some(DocKind::Pdf)
        );
        assert_eq!(
            kind(&page("http://h/x.txt", None, b"hi")),
            Some(DocKind::Text)
        );
        assert!(matches!(
            page_kind(&page("http://h/x.html", Some("image/png"), b"")),
            Err(KnowledgeError::Unsupported(t)) if t == "image/png"
        ));
    }

    #[test]
    fn titles_from_urls() {
        let title = |u: &str| url_title(&Url::parse(u).unwrap());
        assert_eq!(
            title("https://h.example/docs/My%20Guide.pdf").as_deref(),
            Some("My Guide")
        );
        assert_eq!(title("https://h.example/").as_deref(), Some("h.example"));
        assert_eq!(
            title("https://h.example/a/b/").as_deref(),
            Some("h.example")
        );
    }
}
