//! The site layer: what vhosts serve over plain HTTP.
//!
//! Owns mounts (a URL path prefix and its origin: a directory, the embedded
//! test site, a redirect), file serving with its cache, and the response
//! body type. The server layer picks the vhost and calls [`serve`]; the
//! `Server` header and vhost headers are added there, once.
//!
//! Imports: nothing else of the crate (in particular, never `server`).

pub(crate) mod embedded;
mod file;
mod mount;
mod response;
mod serve;

pub(crate) use mount::{find, header_map, MountRt};
pub use mount::{Mount, Origin, Site};
pub(crate) use response::{full, text, Body};
pub(crate) use serve::{not_found, serve};
