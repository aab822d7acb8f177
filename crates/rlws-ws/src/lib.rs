//! `rlws-ws`: a sans-IO WebSocket engine (RFC 6455).
//!
//! This crate does no I/O and knows nothing of sockets or async runtimes. It
//! turns bytes into WebSocket events and messages into bytes:
//!
//! * [`Connection`] is a whole connection after the opening handshake: feed
//!   it received bytes, take [`Event`]s, queue sends, take what to transmit,
//!   and give it the time for its close deadline. Reassembly,
//!   permessage-deflate, automatic pongs and close replies live there. Both
//!   of rlws' drivers (service threads and the async client) are pumps over it.
//! * [`Receiver`] parses frames incrementally from whatever bytes arrive,
//!   unmasks payload *in place* in the caller's buffer (no copy), validates
//!   UTF-8 of text messages incrementally across fragments, enforces the
//!   framing rules (reserved bits and opcodes, control frame rules,
//!   continuation rules, masking by role) and the configured size limits, and
//!   reports each violation as a [`ProtocolError`] carrying the close code to
//!   send (1002, 1007 or 1009).
//! * [`frame`] encodes frame headers and whole frames.
//! * [`mask`] applies the masking key, word-wise.
//! * [`handshake`] computes `Sec-WebSocket-Accept` and validates the opening
//!   handshake fields.
//! * [`close`] knows which close codes may appear on the wire.
//! * [`deflate`] is permessage-deflate (RFC 7692): negotiation, and
//!   compression and bounded inflation of messages.
//!
//! Anything with a byte stream (an external poll loop, a test) can use it
//! directly.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod close;
mod connection;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod mask;
mod receiver;
pub mod utf8;

pub use close::CloseCode;
pub use connection::{Config, Connection, Data, Event, Outgoing, SendError, State, Transmit};
pub use frame::{OpCode, Role};
pub use receiver::{DataKind, FrameEvent, Limits, ProtocolError, Receiver};
