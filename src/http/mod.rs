//! The HTTP listener: an HTTP/1.x reverse proxy with the Elastic Load Balancing rules of the
//! contract ("HTTP listener behaviour").
//!
//! The codec half is pure and I/O-free: [`codec`] parses request and response heads in place
//! (httparse) and decides their framing, [`body`] validates bodies as they stream past,
//! [`headers`] writes the rewritten heads that are forwarded, and [`errors`] holds the
//! pre-rendered responses spillway makes itself. None of them allocates per message once the
//! caller's reused buffers have grown, and none panics on any input.
pub mod body;
pub mod buffer;
pub mod codec;
pub mod errors;
pub mod headers;
pub mod park;
#[cfg(any(test, feature = "fuzzing"))]
pub mod properties;
pub mod proxy;
pub mod relay;
pub mod resources;
pub mod session;
pub mod tunnel;

pub use resources::{HttpContext, HttpShard};
