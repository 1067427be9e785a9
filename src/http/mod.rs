//! The HTTP listener: an HTTP/1.x reverse proxy with the Elastic Load Balancing rules of the
//! contract ("HTTP listener behaviour").
//!
//! The codec half is pure and I/O-free: [`codec`] parses request and response heads in place
//! (httparse) and decides their framing, [`body`] validates bodies as they stream past,
//! [`headers`] writes the rewritten heads that are forwarded, and [`errors`] holds the
//! pre-rendered responses spillway makes itself. None of them allocates per message once the
//! caller's reused buffers have grown, and none panics on any input.
//!
//! The I/O half: [`proxy`] runs a connection's request flow, `routing` adapts it to the
//! listener rules (`crate::rules`), [`relay`] and [`tunnel`] move bodies and upgraded streams,
//! [`park`] keeps idle connections without a task, [`session`] starts a connection's task,
//! [`closing`] closes a connection after an error answer without losing the answer.
pub mod body;
pub mod buffer;
pub mod closing;
pub mod codec;
pub mod errors;
pub mod headers;
pub mod park;
#[cfg(any(test, feature = "fuzzing"))]
pub mod properties;
pub mod proxy;
pub mod relay;
pub mod resources;
mod routing;
pub mod session;
pub mod tunnel;

pub use resources::{HttpContext, HttpShard};
