//! What a shard keeps for its HTTP listeners: the stock of request scratches, the idle
//! backend connections, the parked idle client connections, and the parser limits; and
//! [`HttpContext`], which is what an HTTP session is given: those, on top of the part of the
//! shard every session shares ([`ShardContext`]).

use std::{ops::Deref, rc::Rc};

use super::{buffer::ScratchStock, codec::Limits, park::ParkingLot};
use crate::{context::ShardContext, pool::Pool};

/// What an HTTP session of one shard may use: the shard's shared session state (through
/// `Deref`, so `ctx.group(i)` and `ctx.draining()` read as they do on the shard) and the HTTP
/// resources in [`HttpContext::http`].
pub struct HttpContext {
    shard: Rc<ShardContext>,
    pub http: HttpShard,
}

impl HttpContext {
    pub fn new(shard: Rc<ShardContext>) -> Self {
        HttpContext { shard, http: HttpShard::default() }
    }

    /// The shard's shared session state, for a session that needs its own `Rc` of it (a
    /// session guard, a TCP session).
    pub fn shard(&self) -> &Rc<ShardContext> {
        &self.shard
    }
}

impl Deref for HttpContext {
    type Target = ShardContext;

    fn deref(&self) -> &ShardContext {
        &self.shard
    }
}

pub struct HttpShard {
    pub scratch: ScratchStock,
    pub pool: Pool,
    /// Client connections idle long enough to be parked (see `park.rs`).
    pub parking: ParkingLot,
    pub limits: Limits,
    /// Largest an input buffer may grow: above every head limit, so the parser refuses an
    /// oversized head (414/431/502) before the buffer is full.
    pub buffer_limit: usize,
}

impl Default for HttpShard {
    fn default() -> Self {
        let limits = Limits::default();
        let buffer_limit = limits.max_request_head.max(limits.max_response_head) + 1024;
        HttpShard {
            scratch: ScratchStock::default(),
            pool: Pool::default(),
            parking: ParkingLot::new(),
            limits,
            buffer_limit,
        }
    }
}
