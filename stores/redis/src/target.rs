//! The server a store talks to, from its URL: `redis://` or `rediss://` (TLS),
//! `[user[:password]@]host[:port][/db]`. The password is kept only to be sent in `AUTH`.

use std::fmt;

/// A parsed Redis URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub tls: bool,
    /// Without brackets for IPv6.
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("tls", &self.tls)
            .field("server", &self.server())
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Parses `url`; the error says what is wrong and never quotes the URL (it may hold the
    /// password).
    pub fn parse(url: &str) -> Result<Target, &'static str> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("redis://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("rediss://") {
            (true, rest)
        } else {
            return Err("the URL must start with redis:// or rediss://");
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            // `redis://password@host`, as redis-cli reads it.
            Some(info) => match info.split_once(':') {
                None => (None, Some(decode(info)?)),
                Some(("", p)) => (None, Some(decode(p)?)),
                Some((u, p)) => (Some(decode(u)?), Some(decode(p)?)),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err("the URL has no valid host");
        }
        let port = match port {
            None => 6379,
            Some(p) => p.parse().map_err(|_| "the URL's port is not a number")?,
        };
        let db = match path {
            "" => 0,
            p => p
                .parse()
                .map_err(|_| "the URL's path must be a database number")?,
        };
        Ok(Target {
            tls,
            host: host.to_owned(),
            port,
            user,
            password,
            db,
        })
    }

    /// `host:port/db`, for messages: never the user or password.
    pub fn server(&self) -> String {
        format!("{}/{}", self.address(), self.db)
    }

    /// `host:port` (IPv6 in brackets).
    pub fn address(&self) -> String {
        join(&self.host, self.port)
    }
}

/// `host:port`, with brackets around an IPv6 host.
pub(crate) fn join(host: &str, port: u16) -> String {
    match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// Percent-decoding of the user and password.
fn decode(text: &str) -> Result<String, &'static str> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or("bad %-escape in the URL")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "bad %-escape in the URL")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape in the URL")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL's user or password is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed() {
        let t = Target::parse("rediss://app:p%40ss%3Aw@redis.internal:6380/3").unwrap();
        assert!(t.tls);
        assert_eq!(t.host, "redis.internal");
        assert_eq!(t.port, 6380);
        assert_eq!(t.user.as_deref(), Some("app"));
        assert_eq!(t.password.as_deref(), Some("p@ss:w"));
        assert_eq!(t.db, 3);
        assert_eq!(t.server(), "redis.internal:6380/3");
        let t = Target::parse("redis://:secret@[::1]").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db), ("::1", 6379, 0));
        assert_eq!(
            (t.user.as_deref(), t.password.as_deref()),
            (None, Some("secret"))
        );
        assert_eq!(t.server(), "[::1]:6379/0");
        let t = Target::parse("redis://127.0.0.1:7000").unwrap();
        assert_eq!((t.user, t.password), (None, None));
    }

    #[test]
    fn bad_urls_are_refused_without_quoting_them() {
        assert_eq!(
            Target::parse("http://u:hunter2@x"),
            Err("the URL must start with redis:// or rediss://")
        );
        assert_eq!(
            Target::parse("redis://u:hunter2@x:port"),
            Err("the URL's port is not a number")
        );
        assert_eq!(
            Target::parse("redis://u:hunter2@x/db"),
            Err("the URL's path must be a database number")
        );
        assert_eq!(
            Target::parse("redis://u:hunter2@/0"),
            Err("the URL has no valid host")
        );
    }
}
