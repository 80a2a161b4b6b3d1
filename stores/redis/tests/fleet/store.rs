//! The store on its own: what Redis holds, time limits, reconnection, the lease's release.
