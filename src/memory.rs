//! Handing freed memory back to the system after a burst.
//!
//! The binary's allocator is mimalloc (src/main.rs). When memory is freed, mimalloc keeps the
//! pages for reuse and returns ("purges") them only after a delay, and only from inside a later
//! allocation or free on the same thread. A shard whose connections have all just gone idle
//! makes no further allocation, so what their tasks held stays in its RSS indefinitely: 10,000
//! connections opened within a second and then parked left about 3 KiB each resident
//! (docs/benchmarks.md, "Memory"), although it was all free.
//!
//! [`release_free_pages`] asks mimalloc to purge now. It is called by the parking lot once many
//! connections have parked or woken (`http/park.rs`), never per request: a collection walks the
//! calling thread's heap, which costs far more than any allocation it would save.
//!
//! With another global allocator (the test binaries use the system's) the call collects
//! mimalloc's heap of this thread, which is empty: harmless, and nothing to release.

/// Returns the calling thread's free pages to the system, as far as the allocator can.
pub fn release_free_pages() {
    // SAFETY: mi_collect has no preconditions; it only touches the calling thread's heap and
    // the allocator's own shared structures under their own synchronisation.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Whether the heap may be backed by transparent huge pages: only if the operator asked the
/// allocator for them (`MIMALLOC_ALLOW_THP=1`, or any value: their choice is kept as is).
///
/// Why not by default: a stock mimalloc marks its arena `MADV_HUGEPAGE` (spillway's is built
/// with `no_thp`, which drops that; a host set to THP `always` would use huge pages anyway), and
/// the kernel's khugepaged (a pass every 10 s by default) then collapses each partly used 2 MiB
/// region into one huge page, filling in the pages a release had just given back. Measured with 10,000 parked
/// connections: 1.4 KiB each right after the release, growing by about 8 MB per pass while the
/// process stayed idle, and 16.6 MB of RSS before the first connection against 7.1 MB without
/// huge pages; requests were no slower without them (docs/benchmarks.md, "Memory").
fn huge_pages_wanted() -> bool {
    std::env::var_os("MIMALLOC_ALLOW_THP").is_some()
}

/// Asks the kernel not to back this process's memory with transparent huge pages (see
/// [`huge_pages_wanted`]); called once, first thing, by the binary. Returns whether it did.
pub fn avoid_transparent_huge_pages() -> bool {
    if huge_pages_wanted() {
        return false;
    }
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and affects this process.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
}
