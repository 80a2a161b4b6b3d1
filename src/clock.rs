//! The two clocks a cache reads, and the arithmetic of clocks that disagree. Without the `test-util` feature they are the system's and
//! cost nothing more; with it, a [`TestClock`] can move them.

use std::time::{Instant, SystemTime};

/// The monotonic and wall clocks a cache reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    #[cfg(feature = "test-util")]
    test: Option<TestClock>,
}

impl Clock {
    /// Clocks moved by `test`.
    #[cfg(feature = "test-util")]
    pub fn moved_by(test: TestClock) -> Clock {
        Clock { test: Some(test) }
    }

    /// Now on the monotonic clock.
    #[inline]
    pub fn now(&self) -> Instant {
        let now = Instant::now();
        #[cfg(feature = "test-util")]
        if let Some(test) = &self.test {
            return now.checked_add(test.monotonic()).unwrap_or(now);
        }
        now
    }

    /// Now on the wall clock.
    pub fn wall(&self) -> SystemTime {
        let now = SystemTime::now();
        #[cfg(feature = "test-util")]
        if let Some(test) = &self.test {
            return now.checked_add(test.wall()).unwrap_or(now);
        }
        now
    }
}

/// The skew of `host` over `server`, in milliseconds: positive when the host is ahead.
pub(crate) fn skew_ms(host: SystemTime, server: SystemTime) -> i64 {
    let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match host.duration_since(server) {
        Ok(ahead) => millis(ahead),
        Err(behind) => -millis(behind.duration()),
    }
}

/// `time` moved by `ms` milliseconds (back when negative); `time` itself if that overflows.
pub(crate) fn shifted(time: SystemTime, ms: i64) -> SystemTime {
    let by = std::time::Duration::from_millis(ms.unsigned_abs());
    match ms {
        0.. => time.checked_add(by),
        _ => time.checked_sub(by),
    }
    .unwrap_or(time)
}

#[cfg(feature = "test-util")]
pub use test_clock::TestClock;

#[cfg(feature = "test-util")]
mod test_clock {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::time::Duration;

    /// Clocks a test moves by hand, for tests of expiry and refresh without sleeping (like
    /// tokio's `time::pause`). Only with the `test-util` cargo feature, which is off by
    /// default; give it to [`TokenConfig::with_test_clock`](crate::TokenConfig::with_test_clock).
    ///
    /// Clones move together, so one clock can drive several sources (two "processes"
    /// sharing a [`DiskCache`](crate::DiskCache), say).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "test-util")] {
    /// use std::time::Duration;
    /// use apiauth::TestClock;
    ///
    /// let clock = TestClock::new();
    /// clock.advance(Duration::from_secs(3600)); // both clocks: an hour passes
    /// clock.advance_wall(Duration::from_secs(7200)); // the host slept two hours
    /// # }
    /// ```
    #[derive(Debug, Clone, Default)]
    pub struct TestClock {
        offsets: Arc<Offsets>,
    }

    #[derive(Debug, Default)]
    struct Offsets {
        monotonic: AtomicU64,
        wall: AtomicU64,
    }

    fn nanos(by: Duration) -> u64 {
        u64::try_from(by.as_nanos()).unwrap_or(u64::MAX)
    }

    impl TestClock {
        /// Clocks that read the system's until moved.
        pub fn new() -> TestClock {
            TestClock::default()
        }

        /// Moves the monotonic and the wall clock forward by `by`: time passes.
        pub fn advance(&self, by: Duration) {
            self.offsets.monotonic.fetch_add(nanos(by), Relaxed);
            self.offsets.wall.fetch_add(nanos(by), Relaxed);
        }

        /// Moves only the wall clock forward by `by`: the host was suspended (its monotonic
        /// clock stood still) or its clock was set.
        pub fn advance_wall(&self, by: Duration) {
            self.offsets.wall.fetch_add(nanos(by), Relaxed);
        }

        pub(crate) fn monotonic(&self) -> Duration {
            Duration::from_nanos(self.offsets.monotonic.load(Relaxed))
        }

        pub(crate) fn wall(&self) -> Duration {
            Duration::from_nanos(self.offsets.wall.load(Relaxed))
        }
    }
}
