//! The Redis protocol (RESP2) subset the store speaks: commands as arrays of bulk strings,
//! and replies read with limits, so that a reply larger than a record is refused while it
//! is read, not after. Sans-IO over any `BufRead`: the deadline is the stream's business.

use std::io::{self, BufRead, Write};

/// The largest bulk string read: a record (64 KiB) and nothing more.
pub(crate) const MAX_BULK: usize = 64 * 1024;
/// The most elements an array reply may have (`TIME` has 2).
const MAX_ARRAY: usize = 8;
/// The longest line (type byte, number, status or error text).
const MAX_LINE: usize = 512;

/// A reply, as far as the store needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR …`, `-MOVED …`: the server's error line.
    Error(String),
    Int(i64),
    /// `$-1` is `None`.
    Bulk(Option<Vec<u8>>),
    /// `*-1` is `None`.
    Array(Option<Vec<Reply>>),
}

/// Why a reply could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    /// Not RESP, or past a limit (what, for the message).
    Protocol(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// Writes `args` as one command.
pub(crate) fn write_command(out: &mut impl Write, args: &[&[u8]]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        buf.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        buf.extend_from_slice(arg);
        buf.extend_from_slice(b"\r\n");
    }
    out.write_all(&buf)
}

/// Reads one reply; nested arrays one level deep at most.
pub(crate) fn read_reply(input: &mut impl BufRead) -> Result<Reply, ReadError> {
    read_nested(input, 0)
}

fn read_nested(input: &mut impl BufRead, depth: u8) -> Result<Reply, ReadError> {
    let line = read_line(input)?;
    let (kind, rest) = line
        .split_first()
        .ok_or(ReadError::Protocol("empty line"))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Reply::Status(text())),
        b'-' => Ok(Reply::Error(text())),
        b':' => Ok(Reply::Int(number(rest)?)),
        b'$' => match number(rest)? {
            -1 => Ok(Reply::Bulk(None)),
            n if n < 0 => Err(ReadError::Protocol("negative length")),
            n if n as u64 > MAX_BULK as u64 => Err(ReadError::Protocol("value over 64 KiB")),
            n => {
                let mut value = vec![0; n as usize + 2];
                input.read_exact(&mut value)?;
                if !value.ends_with(b"\r\n") {
                    return Err(ReadError::Protocol("value not ended by CRLF"));
                }
                value.truncate(n as usize);
                Ok(Reply::Bulk(Some(value)))
            }
        },
        b'*' => match number(rest)? {
            -1 => Ok(Reply::Array(None)),
            n if n < 0 => Err(ReadError::Protocol("negative length")),
            n if n as u64 > MAX_ARRAY as u64 || depth > 0 => {
                Err(ReadError::Protocol("array too large or nested"))
            }
            n => (0..n)
                .map(|_| read_nested(input, depth + 1))
                .collect::<Result<_, _>>()
                .map(|v| Reply::Array(Some(v))),
        },
        _ => Err(ReadError::Protocol("unknown reply type")),
    }
}

/// A line without its CRLF, at most `MAX_LINE` bytes.
fn read_line(input: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut line = Vec::new();
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        let (used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        line.extend_from_slice(&available[..used]);
        input.consume(used);
        if line.len() > MAX_LINE + 2 {
            return Err(ReadError::Protocol("line too long"));
        }
        if done {
            return match line.strip_suffix(b"\r\n") {
                Some(l) => Ok(l.to_vec()),
                None => Err(ReadError::Protocol("line not ended by CRLF")),
            };
        }
    }
}

fn number(digits: &[u8]) -> Result<i64, ReadError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ReadError::Protocol("not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Reply, ReadError> {
        read_reply(&mut io::BufReader::new(bytes))
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        write_command(&mut out, &[b"SET", b"k", b"a b"]).unwrap();
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na b\r\n");
    }

    #[test]
    fn replies_are_read() {
        assert_eq!(read(b"+OK\r\n").unwrap(), Reply::Status("OK".into()));
        assert_eq!(
            read(b"-MOVED 1 h:1\r\n").unwrap(),
            Reply::Error("MOVED 1 h:1".into())
        );
        assert_eq!(read(b":-3\r\n").unwrap(), Reply::Int(-3));
        assert_eq!(read(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(
            read(b"$3\r\na\r\n\r\n").unwrap(),
            Reply::Bulk(Some(b"a\r\n".to_vec()))
        );
        assert_eq!(
            read(b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n").unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"1".to_vec())),
                Reply::Bulk(Some(b"2".to_vec()))
            ]))
        );
    }

    #[test]
    fn a_value_over_64_kib_is_refused_from_its_length_alone() {
        // Only the header: refused before any of the value is read (there is none here).
        let error = read(b"$65537\r\n").unwrap_err();
        assert!(
            matches!(error, ReadError::Protocol("value over 64 KiB")),
            "{error:?}"
        );
        let error = read(b"$1073741824\r\n").unwrap_err();
        assert!(matches!(error, ReadError::Protocol("value over 64 KiB")));
        let exact = [b"$65536\r\n".as_slice(), &[b'x'; 65536], b"\r\n"].concat();
        assert_eq!(read(&exact).unwrap(), Reply::Bulk(Some(vec![b'x'; 65536])));
    }

    #[test]
    fn endless_lines_arrays_and_garbage_are_refused() {
        let long = [b"+".as_slice(), &[b'a'; 10_000]].concat();
        assert!(matches!(
            read(&long).unwrap_err(),
            ReadError::Protocol("line too long")
        ));
        assert!(matches!(
            read(b"*100000\r\n").unwrap_err(),
            ReadError::Protocol("array too large or nested")
        ));
        assert!(matches!(
            read(b"*1\r\n*1\r\n:1\r\n").unwrap_err(),
            ReadError::Protocol("array too large or nested")
        ));
        assert!(matches!(
            read(b"HTTP/1.1 400\r\n").unwrap_err(),
            ReadError::Protocol("unknown reply type")
        ));
        assert!(matches!(read(b"+OK").unwrap_err(), ReadError::Io(_)));
    }
}
