//! The two clocks a cache reads, with an offset that tests can move forward.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

/// The monotonic and wall clocks, both shifted by the same offset (zero outside tests).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_nanos: AtomicU64,
}

impl Clock {
    #[inline]
    fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Relaxed))
    }

    /// Now on the monotonic clock.
    #[inline]
    pub fn now(&self) -> Instant {
        let now = Instant::now();
        now.checked_add(self.offset()).unwrap_or(now)
    }

    /// Now on the wall clock.
    pub fn wall(&self) -> SystemTime {
        let now = SystemTime::now();
        now.checked_add(self.offset()).unwrap_or(now)
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Relaxed);
    }
}
