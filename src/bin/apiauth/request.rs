//! `apiauth request`: one API call with the right auth header, and its answer on stdout.
//!
//! Everything that can be refused is checked before the credentials are read or anything is
//! sent: the URL (on the API's origin), the extra headers (no auth headers), the method and
//! the body (read once into memory, so that the retry after a 401 can send it again).

use std::io::Read;

use apiauth::http::header::CONTENT_TYPE;
use apiauth::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use apiauth::{ApiClient, Auth, Error, Side, TlsSettings};
use ureq::Error::Timeout;

use crate::command_line::{Provider, Settings};
use crate::{API_STATUS, Exit, REJECTED, UNREACHABLE, print, urls};

/// The largest body `--data` reads.
const MAX_DATA: u64 = 10 * 1024 * 1024;

/// Headers `--header` refuses: apiauth sets the auth header, credentials never go on the
/// command line, and the origin and body framing are the command's (a Host header would send
/// the token to another virtual host behind the same address).
const REFUSED_HEADERS: &str = "authorization proxy-authorization x-connect-token cookie host \
    content-length transfer-encoding";

/// Sends the call and prints the answer (after its head with `--include`). A non-2xx answer
/// is printed too, then reported as exit code 7, or 3 for a 401 to Basic (the Core API
/// refused the credentials themselves: no token to renew).
pub fn run(call: &Settings) -> Result<(), Exit> {
    let url = url(call)?;
    let headers = (call.all("header").map(header)).collect::<Result<Vec<_>, _>>()?;
    let body = call.get("data").map(body).transpose()?;
    let method =
        (call.method.clone()).unwrap_or(body.as_ref().map_or(Method::GET, |_| Method::POST));
    let mut request = Request::builder().method(method.clone()).uri(&url);
    if body.is_some() && !headers.iter().any(|(name, _)| name == CONTENT_TYPE) {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    let request = (headers.into_iter()).fold(request, |r, (name, value)| r.header(name, value));
    let request = request.body(body.unwrap_or_default());
    let request = request.map_err(|_| "the request's URL is not valid")?;
    let (auth, tls) = crate::auth(call)?;
    let basic = matches!(auth, Auth::Basic(..));
    // The method and the URL (its path too, never its query): the log and every message
    // name them.
    let sent = format!("{method} {}", urls::shown(&url));
    log::info!("{sent}");
    // The agent for API calls, with the certificates of `tls`: every status is an answer, no
    // redirect is followed, `--timeout` limits each phase (each read of the body) and
    // `--max-time` the whole call, from connecting to the answer's last byte.
    let limit = Some(call.timeout);
    let agent = (tls.as_ref())
        .map_or_else(apiauth::agent_config, TlsSettings::agent_config)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(call.max_time))
        .timeout_connect(limit)
        .timeout_send_request(limit)
        .timeout_send_body(limit)
        .timeout_recv_response(limit)
        .timeout_per_read(limit)
        .build();
    let client = ApiClient::new_with_agent(agent.into(), auth);
    let mut response = client.run(request).map_err(|error| match error {
        // With the method: "could not reach the API for GET https://…/path: timed out …".
        Error::Transport(e) if e.side == Side::Api => {
            let detail = e.detail.map_or(String::new(), |d| format!(" ({d})"));
            let why = format!("could not reach the API for {sent}: {}{detail}", e.cause);
            Exit(UNREACHABLE, urls::redact(&why))
        }
        error => Exit::from(error),
    })?;
    let status = response.status();
    log::info!("the API answered {status}");
    if call.get("include").is_some() {
        let mut head = format!("{:?} {status}\n", response.version());
        for (name, value) in response.headers() {
            head += &format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()));
        }
        print(format!("{head}\n").as_bytes())?;
    }
    let mut reader = response.body_mut().as_reader();
    let mut buffer = vec![0; 64 * 1024];
    // Each piece as it arrives.
    while let n @ 1.. = (reader.read(&mut buffer)).map_err(|e| cut_short(call, &url, &e))? {
        print(&buffer[..n])?;
    }
    let answered = format!("{status} to {sent}");
    let check = "check APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET";
    let refused = format!("the API refused the credentials: {answered}; {check}");
    Err(match status {
        _ if status.is_success() => return Ok(()),
        StatusCode::UNAUTHORIZED if basic => Exit(REJECTED, refused),
        _ => Exit(API_STATUS, format!("the API answered {answered}")),
    })
}

/// Why the answer stopped before its end, with the API's origin and the limit that ran out.
fn cut_short(call: &Settings, url: &str, error: &std::io::Error) -> Exit {
    let (max_time, timeout) = (call.max_time.as_secs_f64(), call.timeout.as_secs_f64());
    let why = match (error.get_ref()).and_then(|e| e.downcast_ref::<ureq::Error>()) {
        Some(Timeout(ureq::Timeout::Global)) => format!("--max-time ran out after {max_time} s"),
        Some(Timeout(_)) => format!("no data for --timeout {timeout} s"),
        _ => error.to_string(),
    };
    let origin = origin_text(&url.parse().unwrap_or_default());
    let why = format!("could not read the answer of the API at {origin}: {why}");
    Exit(UNREACHABLE, why)
}

/// The URL to call: the target below the API base URL or, for a full URL, the target
/// itself, which must be on the base URL's origin. Never echoes the target (a misplaced
/// secret could be in it).
fn url(call: &Settings) -> Result<String, Exit> {
    // The word after `request`: a path below the API base URL, or a full URL on its origin.
    let target = call.words.get(1).map_or("", String::as_str);
    let placeholder = target.contains("{customerId}");
    let target = match call.get("customer-id") {
        Some(_) if !placeholder => Err("--customer-id needs {customerId} in the path")?,
        // The id is never echoed: a misplaced secret could be in it.
        Some(id) => urls::customer_path(target, id)
            .ok_or("--customer-id takes letters, digits, '-', '_' and '.' only")?,
        None if placeholder => Err("the path has {customerId}: give --customer-id")?,
        None => target.to_owned(),
    };
    let (full, path) = (urls::find_url(&target) == Some(0), target.starts_with('/'));
    let provider = call.provider.map_or("", Provider::name);
    let base = call.api_base_url.as_deref();
    let url = match (base, full) {
        (Some(base), false) if path => format!("{}{target}", base.trim_end_matches('/')),
        (None, false) if path => {
            let env = ["", " (or --env or --base-url)"][usize::from(provider == "motorweb")];
            let why = format!("a path needs --api-base-url{env} with --provider {provider}");
            Err(why)?
        }
        (_, false) => Err("the request target must be a path (/…) or an http(s) URL")?,
        (_, true) => target.clone(),
    };
    // A base URL was checked as it was read: only a full URL without one is checked here.
    let base = base.unwrap_or(&target);
    urls::check(base).map_err(|why| format!("the URL {why}"))?;
    let (Ok(base), Ok(target)) = (base.parse::<Uri>(), url.parse::<Uri>()) else {
        Err("the request target is not a valid URL")?
    };
    if !urls::same_origin(&base, &target) {
        let origin = origin_text(&base);
        let why = format!("the URL is not on the API's origin {origin} (--provider {provider})");
        Err(format!("{why}; nothing was sent"))?;
    }
    Ok(url)
}

/// `uri`'s origin: no path, no query.
fn origin_text(uri: &Uri) -> String {
    let origin = uri.scheme_str().zip(uri.authority());
    origin.map_or(String::new(), |(scheme, host)| format!("{scheme}://{host}"))
}

/// One `--header 'Name: value'`. Auth headers, cookies and CR/LF are refused; the value is
/// never echoed.
fn header(line: &str) -> Result<(HeaderName, HeaderValue), Exit> {
    if line.contains(['\r', '\n']) {
        Err("--header refuses CR and LF")?;
    }
    let (name, value) = line.split_once(':').ok_or("--header takes 'Name: value'")?;
    let takes = |what: &str| format!("--header takes 'Name: value' with a {what}");
    let name: HeaderName = (name.trim().parse()).map_err(|_| takes("valid name"))?;
    if REFUSED_HEADERS.split(' ').any(|refused| refused == name) {
        Err(format!(
            "refusing --header {name}: apiauth sets the auth header itself, and credentials \
             never go on the command line (every user of this host can read it with `ps`)"
        ))?;
    }
    let value = HeaderValue::from_str(value.trim()).map_err(|_| takes("visible ASCII value"))?;
    Ok((name, value))
}

/// The body of `--data`: `@-` reads stdin, `@FILE` a file, anything else is the body.
fn body(data: &str) -> Result<Vec<u8>, Exit> {
    let why = |e: std::io::Error| format!("--data: cannot read the body: {e}");
    let source: Box<dyn Read> = match data.strip_prefix('@') {
        None => return Ok(data.as_bytes().to_vec()),
        Some("-") => Box::new(std::io::stdin()),
        Some(path) => Box::new(std::fs::File::open(path).map_err(why)?),
    };
    let body = crate::credentials_file::at_most(source, MAX_DATA).map_err(why)?;
    Ok(body.ok_or("--data: the body is larger than 10 MiB")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_refused_without_echo() {
        for line in [
            "Authorization: Bearer s3cr3t",
            "X-CONNECT-TOKEN: TOKEN s3cr3t",
            "cookie:s=s3cr3t",
            "Proxy-Authorization: Basic s3cr3t",
        ] {
            let error = header(line).unwrap_err();
            let crate::Exit(code, message) = error;
            assert_eq!(code, crate::USAGE);
            assert!(message.starts_with("refusing --header"), "{line}");
            assert!(!message.contains("s3cr3t"), "{line}");
        }
        assert!(header("Accept: text/plain\r\nAuthorization: x").is_err());
        let (name, value) = header("Accept:  text/plain ").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("accept", "text/plain")
        );
    }
}
