//! The site layer: what vhosts serve over plain HTTP.
//!
//! Owns mounts (a URL path prefix and its [`Origin`]), the origin interface
//! itself, the built-in origins ([`Files`], [`Redirect`]) with the file cache,
//! and the body type of requests and responses. The server layer picks the
//! vhost and calls [`serve`]; the `Server` header and vhost headers are
//! added there, once.
//!
//! Imports: nothing else of the crate (in particular, never `server`).

mod activity;
mod callback;
mod cgi;
mod cgi_head;
mod conditional;
mod conn_state;
mod dechunk;
mod encoding;
mod file;
mod file_body;
mod file_ops;
mod form;
mod form_files;
#[cfg(fuzzing)]
pub mod fuzz;
mod mount;
mod openmetrics;
mod origin;
mod proxy;
mod proxy_unix;
mod range;
mod redirect;
mod response;
mod serve;
mod ws_route;
mod zip;
mod zip_index;

pub use callback::{Callback, HttpHandle, HttpHandler, Written};
pub use cgi::Cgi;
pub(crate) use conn_state::{ConnState, HasConnState};
pub use file::Files;
pub use file_ops::{Disk, FileOps, FileRead, FileStat};
pub use form::{Form, FormError, FormEvent, FormLimits};
pub use form_files::{SaveFiles, SavedFile};
pub use mount::Mount;
pub(crate) use mount::{find, header_map, MountRt};
pub use openmetrics::OpenMetrics;
pub(crate) use origin::Link;
pub use origin::{BoxFuture, Origin, OriginRequest};
pub use proxy::{ReverseProxy, ReverseProxyError};
pub use redirect::{into_directory, Redirect};
pub use response::{empty, full, not_found, text, Body};
pub(crate) use serve::serve;
pub(crate) use ws_route::asks_websocket;
pub use ws_route::WebSocketRoute;
