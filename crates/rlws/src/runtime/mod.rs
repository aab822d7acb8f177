//! The runtime layer: service threads and what they share.
//!
//! Owns the threads (one single-threaded tokio runtime each, lws' "pt"), the
//! messages into them, live-connection counts and least-loaded placement,
//! the accept loops, connection ids, the registry of live connections, the
//! per-thread clock, and the byte-stream [`Transport`] under a connection.
//! It knows nothing of HTTP or WebSocket: those plug in as a [`Service`]
//! (state per thread) and an [`Acceptor`] (what to do with an accepted socket).
//!
//! Imports: nothing else of the crate.

mod accept;
mod adopt;
mod clock;
mod deadline;
pub(crate) mod exposition;
mod ids;
mod keepalive;
pub mod limits;
mod metrics;
mod pages;
mod poller;
mod registry;
mod retry;
pub(crate) mod sendfile;
mod shared;
mod tag;
mod thread;
mod transport;
mod validity;

pub use adopt::{AdoptError, AdoptSocket};
pub(crate) use clock::Clock;
pub use deadline::ConnTimeout;
pub use ids::{ConnId, ThreadIndex};
pub(crate) use keepalive::apply as apply_keepalive;
pub use keepalive::TcpKeepalive;
pub(crate) use metrics::{Metrics, ProtoCounts, Shard, VhostCounts};
pub(crate) use pages::Growth;
pub(crate) use poller::{Poller, Sink, Token};
pub use registry::ConnEntry;
pub(crate) use registry::Listing;
pub use retry::RetryPolicy;
pub(crate) use sendfile::FileSendTcp;
pub(crate) use shared::{
    Acceptor, LiveGuard, RuntimeConfig, Service, Shared, ThreadAcceptor, ThreadMsg,
};
pub(crate) use tag::{Kind, Tag};
pub(crate) use thread::{service_loop, service_thread, ThreadCore};
pub use transport::{ClientTls, Stream, Transport};
pub use validity::Validity;
pub(crate) use validity::ValidityTable;
