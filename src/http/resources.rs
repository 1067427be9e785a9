//! What a shard keeps for its HTTP listeners: the stock of request scratches, the idle
//! backend connections, the parked idle client connections, and the parser limits.

use super::{buffer::ScratchStock, codec::Limits, park::ParkingLot};
use crate::pool::Pool;

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
