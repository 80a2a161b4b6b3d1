//! `-v` / `-vv`: `log` records on stderr, one line each, through a logger of our own (no
//! logging crate beyond `log`, which ureq already brings).
//!
//! Levels per target: by default, only warnings that the token store (the disk cache) cannot
//! be used (target `apiauth::store`: a full or read-only disk, say, which the user should
//! know of); `-v` shows Info from apiauth and Warn from everything else; `-vv`
//! Debug from apiauth and ureq, Info from everything else. **Trace is never enabled, for
//! any target:** ureq-proto logs every byte sent at Trace (the `Authorization` header, and a
//! form body with a client secret), and ureq prints request paths and `Location` headers
//! only when Trace is on. ureq's Debug records print a request's headers with every header
//! but a short list of harmless ones (`Host`, `Content-Type`, …) redacted. apiauth's own
//! records never hold a secret or a token. A record that stderr cannot take is lost: it
//! never stops the command (see [`crate::say`]).

use log::{LevelFilter, Log, Metadata, Record};

/// Writes records to stderr at the levels of its number of `-v`s.
struct Logger(usize);

/// Installs the logger for `verbose`.
pub fn install(verbose: usize) {
    // The first and only logger of the process: setting it cannot fail.
    let _ = log::set_logger(Box::leak(Box::new(Logger(verbose))));
    // The most detailed level shown for any target.
    let most = [LevelFilter::Warn, LevelFilter::Info, LevelFilter::Debug];
    log::set_max_level(most[verbose.min(2)]);
}

impl Log for Logger {
    /// Whether `metadata`'s level is shown for its target: never Trace.
    fn enabled(&self, metadata: &Metadata) -> bool {
        let target = metadata.target();
        let under = |root: &str| target == root || target.starts_with(&format!("{root}::"));
        let ours = under("apiauth");
        let most = match self.0 {
            0 if under("apiauth::store") => LevelFilter::Warn,
            0 => LevelFilter::Off,
            1 if ours => LevelFilter::Info,
            1 => LevelFilter::Warn,
            _ if ours || under("ureq") => LevelFilter::Debug,
            _ => LevelFilter::Info,
        };
        metadata.level() <= most
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let level = record.level().as_str().to_ascii_lowercase();
            // A line of its own: `say` puts CR and LF as spaces.
            let message = crate::urls::redact(&record.args().to_string());
            crate::say(&format!("[{level} {}] {message}", record.target()));
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    fn shown(verbose: usize, level: Level, target: &str) -> bool {
        let metadata = Metadata::builder().level(level).target(target).build();
        Logger(verbose).enabled(&metadata)
    }

    #[test]
    fn levels_per_target_and_never_trace() {
        assert!(shown(1, Level::Info, "apiauth::source"));
        assert!(!shown(1, Level::Debug, "apiauth::source"));
        assert!(!shown(1, Level::Info, "ureq::run"));
        assert!(shown(1, Level::Warn, "ureq::run"));
        assert!(shown(2, Level::Debug, "apiauth"));
        assert!(shown(2, Level::Debug, "ureq::run"));
        assert!(!shown(2, Level::Debug, "ureq_proto::client"));
        assert!(!shown(2, Level::Debug, "apiauthx"));
        assert!(shown(2, Level::Info, "rustls::client"));
        for target in ["apiauth", "ureq::run", "ureq_proto::util", "rustls"] {
            assert!(!shown(9, Level::Trace, target), "{target}");
        }
        assert!(!shown(0, Level::Error, "apiauth"));
    }
}
