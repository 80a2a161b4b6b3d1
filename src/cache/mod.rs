//! The cache's engine parts that memory and stores share: the decisions ([`policy`]), what
//! a shared record is bound to ([`key`]) and the records themselves ([`record`]).

pub(crate) mod key;
pub(crate) mod policy;
pub(crate) mod record;
pub(crate) mod summary;
