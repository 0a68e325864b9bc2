//! HTTP/1.1 on the wire, without the network: bytes in, [`Request`] out
//! ([`parser`], with [`chunked`] bodies); [`Response`] in, bytes out
//! ([`response`]); and the [`Status`] codes both speak. Nothing here reads
//! or writes a socket: that is the [event loop](crate::event_loop)'s job,
//! which is what lets these modules be tested with plain byte slices.

pub mod chunked;
pub mod parser;
pub mod request;
pub mod response;
pub mod status;

pub use parser::{ParseError, RequestParser};
pub use request::Request;
pub use response::{Body, Connection, Encoded, FileBody, Response, Sending};
pub use status::Status;
