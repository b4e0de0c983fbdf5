//! The allocator of every binary of this crate (issue 25): jemalloc, set to hand freed memory
//! back to the kernel.
//!
//! Loading a venue's markets allocates several times what it keeps (the reply's text, its JSON
//! tree, ccxt's parse), on whichever threads run the calls. glibc's malloc kept most of that
//! resident (one arena per thread, freed pages returned only from the top of a heap): 2–3× the
//! live heap, 71 MB for one venue where 24 MB were live. jemalloc returns unused pages from a
//! background thread after `dirty_decay_ms`, off the request path; `muzzy_decay_ms:0` releases
//! them outright instead of keeping them lazily reclaimable; one arena (`narenas:1`, threads keep
//! their own caches) rather than four per core, whose partly used pages add up across the I/O,
//! blocking and runtime threads that each touch the markets. Measured in BENCHMARKS.md (issue 25).

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it starts (before `main`, so not a setting): a C string
/// under the name the prefixed jemalloc of `tikv-jemalloc-sys` looks up.
#[allow(
    unsafe_code,
    reason = "exporting a symbol is unsafe: it must be a NUL-terminated C string, which it is"
)]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 70] =
    b"background_thread:true,narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
