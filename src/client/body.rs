//! The request bodies [`ApiClient::run`](crate::ApiClient::run) can send a second time.

use std::borrow::Cow;

/// A request body that [`ApiClient::run`](crate::ApiClient::run) can send again after a
/// 401: bytes it can borrow as often as needed. `()` is the empty body, as for ureq's own
/// `run` (`Request::get(url).body(())`); byte and string buffers, and references to them,
/// are the others. Implement it for a buffer type of your own.
pub trait ReplayBody {
    /// The bytes sent, the same on every call.
    fn bytes(&self) -> &[u8];
}

impl ReplayBody for () {
    fn bytes(&self) -> &[u8] {
        &[]
    }
}

impl<T: ReplayBody + ?Sized> ReplayBody for &T {
    fn bytes(&self) -> &[u8] {
        (**self).bytes()
    }
}

impl<const N: usize> ReplayBody for [u8; N] {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// `ReplayBody` for buffers that lend their bytes through `AsRef<[u8]>`.
macro_rules! replay_as_ref {
    ($($buffer:ty),*) => {
        $(impl ReplayBody for $buffer {
            fn bytes(&self) -> &[u8] {
                AsRef::<[u8]>::as_ref(self)
            }
        })*
    };
}

replay_as_ref!([u8], str, Vec<u8>, String, Box<[u8]>, Cow<'_, [u8]>);
