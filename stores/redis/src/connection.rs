//! One connection to one Redis node, and the deadline every use of it runs against: each
//! read and write of the socket gets what is left of the call's deadline, so a server that
//! trickles, stalls or never answers costs one deadline in all, not one per read.

use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::resp::{self, ReadError, Reply};
use crate::target::Target;

/// Why a call failed; turned into a `StoreError` message by the store.
#[derive(Debug)]
pub(crate) enum Failure {
    TimedOut,
    Io(io::Error),
    /// Not RESP, a reply past a limit, or one the store did not expect.
    Protocol(&'static str),
    /// The server answered with an error (its first word: `NOPERM`, `WRONGPASS`, …).
    Server(String),
    /// TLS asked of a build without it, or a TLS setting that cannot be used.
    Tls(String),
}

impl Failure {
    /// Whether the server is slow, gone or lying (the store then cools down), rather than
    /// answering with an error.
    pub fn is_transport(&self) -> bool {
        !matches!(self, Failure::Server(_))
    }

    /// Whether the connection was closed under it (end of stream, reset, broken pipe).
    pub fn is_closed(&self) -> bool {
        use io::ErrorKind::*;
        matches!(self, Failure::Io(e) if matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe))
    }

    pub(crate) fn server(line: &str) -> Failure {
        // The first word only: a server's text could quote a value.
        Failure::Server(line.split(' ').next().unwrap_or_default().to_owned())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::TimedOut,
            _ => Failure::Io(e),
        }
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Failure {
        match e {
            ReadError::Io(e) => e.into(),
            ReadError::Protocol(what) => Failure::Protocol(what),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Protocol(what) => write!(f, "unexpected reply ({what})"),
            Failure::Server(code) => write!(f, "server answered {code}"),
            Failure::Tls(text) => write!(f, "tls: {text}"),
        }
    }
}

impl std::error::Error for Failure {}

/// A TCP stream whose every read and write ends by `deadline`.
struct Timed {
    tcp: TcpStream,
    deadline: Instant,
}

impl Timed {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match left.is_zero() {
            true => Err(io::ErrorKind::TimedOut.into()),
            false => Ok(left),
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        self.tcp.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

enum Stream {
    Plain(Timed),
    #[cfg(feature = "tls-rustls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Timed>>),
}

impl Stream {
    fn timed(&mut self) -> &mut Timed {
        match self {
            Stream::Plain(t) => t,
            #[cfg(feature = "tls-rustls")]
            Stream::Tls(s) => &mut s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.read(buf),
            #[cfg(feature = "tls-rustls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.write(buf),
            #[cfg(feature = "tls-rustls")]
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.flush(),
            #[cfg(feature = "tls-rustls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The TLS configuration a connection uses, or `()` in a build without TLS.
#[cfg(feature = "tls-rustls")]
pub(crate) type TlsConfig = std::sync::Arc<rustls::ClientConfig>;
/// The TLS configuration a connection uses, or `()` in a build without TLS.
#[cfg(not(feature = "tls-rustls"))]
pub(crate) type TlsConfig = ();

/// A connection to one node, authenticated and on the URL's database.
pub(crate) struct Connection {
    stream: BufReader<Stream>,
}

/// A connection, and the server's clock minus this host's (nanoseconds) measured on it.
pub(crate) struct Opened {
    pub connection: Connection,
    pub offset_ns: i64,
}

impl Connection {
    /// Connects to `host:port` (resolving the name within the deadline too), starts TLS
    /// when `tls` is given, authenticates with `target`'s user and password, selects its
    /// database, and reads the server's `TIME`: one round trip after the handshakes.
    pub fn open(
        target: &Target,
        host: &str,
        port: u16,
        tls: Option<&TlsConfig>,
        deadline: Instant,
    ) -> Result<Opened, Failure> {
        let addresses = resolve(host, port, deadline)?;
        let mut last = Failure::Protocol("no address");
        let mut tcp = None;
        for address in addresses {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::TimedOut);
            }
            match TcpStream::connect_timeout(&address, left) {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(e) => last = e.into(),
            }
        }
        let tcp = tcp.ok_or(last)?;
        tcp.set_nodelay(true)?;
        let timed = Timed { tcp, deadline };
        let stream = match tls {
            None => Stream::Plain(timed),
            #[cfg(feature = "tls-rustls")]
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|_| Failure::Tls("the host is not a valid server name".into()))?;
                let session = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| Failure::Tls(e.to_string()))?;
                let mut stream = rustls::StreamOwned::new(session, timed);
                while stream.conn.is_handshaking() {
                    stream
                        .conn
                        .complete_io(&mut stream.sock)
                        .map_err(tls_failure)?;
                }
                Stream::Tls(Box::new(stream))
            }
            #[cfg(not(feature = "tls-rustls"))]
            Some(()) => return Err(Failure::Tls("this build has no TLS".into())),
        };
        let mut connection = Connection {
            stream: BufReader::with_capacity(8 * 1024, stream),
        };
        let offset_ns = connection.handshake(target)?;
        Ok(Opened {
            connection,
            offset_ns,
        })
    }

    /// AUTH, SELECT and TIME, pipelined.
    fn handshake(&mut self, target: &Target) -> Result<i64, Failure> {
        let mut out = Vec::new();
        let db = target.db.to_string();
        let mut expected = 0;
        if let Some(password) = &target.password {
            match &target.user {
                Some(user) => {
                    resp::write_command(&mut out, &[b"AUTH", user.as_bytes(), password.as_bytes()])?
                }
                None => resp::write_command(&mut out, &[b"AUTH", password.as_bytes()])?,
            }
            expected += 1;
        }
        if target.db != 0 {
            resp::write_command(&mut out, &[b"SELECT", db.as_bytes()])?;
            expected += 1;
        }
        resp::write_command(&mut out, &[b"TIME"])?;
        let sent = SystemTime::now();
        self.stream.get_mut().write_all(&out)?;
        for _ in 0..expected {
            match resp::read_reply(&mut self.stream)? {
                Reply::Status(_) => {}
                Reply::Error(line) => return Err(Failure::server(&line)),
                _ => return Err(Failure::Protocol("AUTH or SELECT")),
            }
        }
        let time = resp::read_reply(&mut self.stream)?;
        let received = SystemTime::now();
        let server = match time {
            Reply::Array(Some(parts)) => match parts.as_slice() {
                [Reply::Bulk(Some(s)), Reply::Bulk(Some(us))] => {
                    let number = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<i64>().ok();
                    number(s).zip(number(us))
                }
                _ => None,
            },
            Reply::Error(line) => return Err(Failure::server(&line)),
            _ => None,
        };
        let (s, us) = server.ok_or(Failure::Protocol("TIME"))?;
        let server_ns = i128::from(s) * 1_000_000_000 + i128::from(us) * 1_000;
        // This host's time halfway through the round trip.
        let halfway = sent + received.duration_since(sent).unwrap_or_default() / 2;
        let host_ns = match halfway.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        let offset = (server_ns - host_ns).clamp(i64::MIN.into(), i64::MAX.into());
        Ok(offset as i64)
    }

    /// Sends the commands (pipelined) and reads one reply per command, all by `deadline`.
    pub fn exec(
        &mut self,
        commands: &[&[&[u8]]],
        deadline: Instant,
    ) -> Result<Vec<Reply>, Failure> {
        self.stream.get_mut().timed().deadline = deadline;
        let mut out = Vec::new();
        for command in commands {
            resp::write_command(&mut out, command)?;
        }
        self.stream.get_mut().write_all(&out)?;
        self.stream.get_mut().flush()?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            replies.push(resp::read_reply(&mut self.stream)?);
        }
        Ok(replies)
    }
}

#[cfg(feature = "tls-rustls")]
fn tls_failure(e: io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::TimedOut,
        // rustls reports a refused certificate as InvalidData with its error inside.
        io::ErrorKind::InvalidData => Failure::Tls(e.to_string()),
        _ => Failure::Io(e),
    }
}

/// The addresses of `host`: an IP at once; a name resolved on a helper thread, waited for
/// until the deadline (the resolver has no timeout of its own; the thread ends when it
/// does).
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (sent, got) = mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("apiauth-redis-resolve".into())
        .spawn(move || {
            let _ = sent.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })?;
    let left = deadline.saturating_duration_since(Instant::now());
    match got.recv_timeout(left) {
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(e)) => Err(Failure::Io(e)),
        Err(_) => Err(Failure::TimedOut),
    }
}
