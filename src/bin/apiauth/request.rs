//! `apiauth request`: one API call with the right auth header, and its answer on stdout.
//!
//! Everything that can be refused is checked before the credentials are read or anything is
//! sent: the URL (on the API's origin), the extra headers (no auth headers), the method and
//! the body (read once into memory, so that the retry after a 401 can send it again).

use std::io::{Read, Write};
use std::time::Duration;

use crate::urls;
use apiauth::ApiClient;
use apiauth::http::header::CONTENT_TYPE;
use apiauth::http::{HeaderName, HeaderValue, Method, Request, Uri};
use apiauth::providers::my_connected_fleet::customer_path;
use ureq::Agent;

use crate::args::{Call, Job};
use crate::{API_STATUS, Exit, UNREACHABLE};

/// The largest body `--data` reads.
const MAX_DATA: u64 = 10 * 1024 * 1024;

/// Headers `--header` refuses: apiauth sets the auth header, credentials never go on the
/// command line, and the origin and body framing are the command's.
const REFUSED_HEADERS: [&str; 7] = [
    "authorization",
    "proxy-authorization",
    "x-connect-token",
    "cookie",
    // The origin and the body are the command's to say: a Host header would send the token
    // to another virtual host behind the same address.
    "host",
    "content-length",
    "transfer-encoding",
];

/// Sends the call and prints the answer (after its head with `--include`). A non-2xx
/// answer is printed too, then reported as exit code 7.
pub fn run(job: &Job, call: &Call) -> Result<(), Exit> {
    let url = url(call)?;
    let headers = call
        .headers
        .iter()
        .map(|line| header(line))
        .collect::<Result<Vec<_>, _>>()?;
    let body = body(call.data.as_deref())?;
    // `--method` is one of `opts::METHODS`, checked when read.
    let method = match (&call.method, &body) {
        (Some(m), _) => Method::from_bytes(m.as_bytes()).unwrap_or_default(),
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };
    let mut builder = Request::builder().method(method.clone()).uri(&url);
    let typed = headers.iter().any(|(name, _)| name == CONTENT_TYPE);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    if body.is_some() && !typed {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(body.unwrap_or_default())
        .map_err(|_| Exit::usage("the request's URL is not valid"))?;

    let client = ApiClient::new_with_agent(agent(call.timeout, call.max_time), crate::auth(job)?);
    let origin = origin_text(request.uri());
    log::info!("{method} {origin}");
    let mut response = client.run(request)?;
    let status = response.status();
    log::info!("the API answered {status}");
    let mut out = std::io::stdout().lock();
    let written = |e: std::io::Result<()>| e.map_err(|_| Exit::silent(1));
    if call.include {
        let mut head = format!("{:?} {status}\n", response.version());
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes());
            head.push_str(&format!("{name}: {value}\n"));
        }
        head.push('\n');
        written(out.write_all(head.as_bytes()).and_then(|()| out.flush()))?;
    }
    let mut reader = response.body_mut().as_reader();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = reader.read(&mut buffer).map_err(|e| {
            let timeout = e.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>());
            let why = match timeout {
                Some(ureq::Error::Timeout(ureq::Timeout::Global)) => {
                    format!("--max-time ran out after {} s", call.max_time.as_secs_f64())
                }
                Some(ureq::Error::Timeout(_)) => {
                    format!("no data for --timeout {} s", call.timeout.as_secs_f64())
                }
                _ => e.to_string(),
            };
            Exit {
                code: UNREACHABLE,
                message: format!("could not read the answer of the API at {origin}: {why}"),
            }
        })?;
        if n == 0 {
            break;
        }
        // Each piece as it arrives: stdout is line-buffered, and a body need not end lines.
        written(out.write_all(&buffer[..n]).and_then(|()| out.flush()))?;
    }
    match status.is_success() {
        true => Ok(()),
        false => Err(Exit {
            code: API_STATUS,
            message: format!("the API answered {status}"),
        }),
    }
}

/// The agent for API calls: every status is an answer, no redirect is followed,
/// `--timeout` limits each phase (each read of the body) and `--max-time` the whole call,
/// from connecting to the answer's last byte.
fn agent(timeout: Duration, max_time: Duration) -> Agent {
    let limit = Some(timeout);
    apiauth::agent_config()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(max_time))
        .timeout_connect(limit)
        .timeout_send_request(limit)
        .timeout_send_body(limit)
        .timeout_recv_response(limit)
        .timeout_per_read(limit)
        .build()
        .into()
}

/// The URL to call: the target below the API base URL or, for a full URL, the target
/// itself, which must be on the base URL's origin. Never echoes the target (a misplaced
/// secret could be in it).
fn url(call: &Call) -> Result<String, Exit> {
    let target = match &call.customer_id {
        Some(id) => {
            if !call.target.contains("{customerId}") {
                return Err(Exit::usage("--customer-id needs {customerId} in the path"));
            }
            // The id is never echoed: a misplaced secret could be in it.
            customer_path(&call.target, id).map_err(|_| {
                Exit::usage("--customer-id takes letters, digits, '-', '_' and '.' only")
            })?
        }
        None if call.target.contains("{customerId}") => {
            return Err(Exit::usage("the path has {customerId}: give --customer-id"));
        }
        None => call.target.clone(),
    };
    let full = ["http://", "https://"].iter().any(|s| {
        target
            .get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
    });
    let (url, base) = match (&call.api_base_url, full) {
        (Some(base), false) if target.starts_with('/') => {
            (format!("{}{target}", base.trim_end_matches('/')), base)
        }
        (None, false) if target.starts_with('/') => {
            return Err(Exit::usage(
                "a path needs --api-base-url with --provider generic",
            ));
        }
        (_, false) => {
            return Err(Exit::usage(
                "the request target must be a path (/…) or an http(s) URL",
            ));
        }
        (Some(base), true) => (target.clone(), base),
        (None, true) => (target.clone(), &target),
    };
    let what = match call.api_base_url {
        None => "the URL",
        Some(_) => "the API base URL",
    };
    urls::check(base).map_err(|why| Exit::usage(format!("{what} {why}")))?;
    let parse = |url: &str| url.parse::<Uri>().ok();
    let (Some(base), Some(target)) = (parse(base), parse(&url)) else {
        return Err(Exit::usage("the request target is not a valid URL"));
    };
    if !apiauth::same_origin(&base, &target) {
        return Err(Exit::usage(format!(
            "the URL is not on the API's origin {}; nothing was sent",
            origin_text(&base)
        )));
    }
    Ok(url)
}

/// `uri`'s origin for the log: no path, no query.
fn origin_text(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => String::new(),
    }
}

/// One `--header 'Name: value'`. Auth headers, cookies and CR/LF are refused; the value is
/// never echoed.
fn header(line: &str) -> Result<(HeaderName, HeaderValue), Exit> {
    if line.contains(['\r', '\n']) {
        return Err(Exit::usage("--header refuses CR and LF"));
    }
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| Exit::usage("--header takes 'Name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| Exit::usage("--header takes 'Name: value' with a valid name"))?;
    if REFUSED_HEADERS.contains(&name.as_str()) {
        return Err(Exit::usage(format!(
            "refusing --header {name}: apiauth sets the auth header itself, and credentials \
             never go on the command line (every user of this host can read it with `ps`)"
        )));
    }
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| Exit::usage("--header takes 'Name: value' with a visible ASCII value"))?;
    Ok((name, value))
}

/// The body of `--data`: `@-` reads stdin, `@FILE` a file, anything else is the body.
fn body(data: Option<&str>) -> Result<Option<Vec<u8>>, Exit> {
    let Some(data) = data else {
        return Ok(None);
    };
    let mut body = Vec::new();
    let read = match data.strip_prefix('@') {
        None => return Ok(Some(data.as_bytes().to_vec())),
        Some("-") => std::io::stdin()
            .lock()
            .take(MAX_DATA + 1)
            .read_to_end(&mut body),
        Some(path) => std::fs::File::open(path)
            .and_then(|file| file.take(MAX_DATA + 1).read_to_end(&mut body)),
    };
    read.map_err(|e| Exit::usage(format!("--data: cannot read the body: {e}")))?;
    if body.len() as u64 > MAX_DATA {
        return Err(Exit::usage("--data: the body is larger than 10 MiB"));
    }
    Ok(Some(body))
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
            assert_eq!(error.code, crate::USAGE);
            assert!(error.message.starts_with("refusing --header"), "{line}");
            assert!(!error.message.contains("s3cr3t"), "{line}");
        }
        assert!(header("Accept: text/plain\r\nAuthorization: x").is_err());
        let (name, value) = header("Accept:  text/plain ").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("accept", "text/plain")
        );
    }
}
