//! The WebSocket layer: the lws callback model and the drivers under it.
//!
//! Owns [`Protocol`] (one method per lws callback reason) with its contexts
//! ([`Cx`], [`ThreadCx`]) and [`Writer`], a protocol's per-thread state and
//! connection list, the driver that pumps one connection between its
//! transport and the sans-IO [`rlws_ws::Connection`], client connections run
//! with a protocol's callbacks, and the fan-out [`ring`].
//!
//! Imports: `runtime` and `client`, never `server`.

mod core;
mod cx;
mod driver;
mod protocol;
pub mod ring;
mod signal;
mod slot;
mod sock;
mod table;
mod upgrade;
mod writer;

pub use cx::{Cx, ThreadCx};
pub use protocol::{
    Close, DeflateConfig, DeflateParams, Handshake, Protocol, ProtocolOptions, Received, RxMode,
};
pub(crate) use slot::{erase, ErasedProtocol};
pub use slot::{ClientHandle, ClientStartError};
pub use writer::{WriteFull, Writer};
