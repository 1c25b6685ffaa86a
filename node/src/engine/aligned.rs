//! Aligned buffers for O_DIRECT I/O, owned so io_uring can hold them across an `.await`.
//!
//! The pointer of an `AlignedBuf` is aligned to `BLOCK_BYTES` and its capacity is a multiple
//! of it, so any whole-buffer read or write satisfies the DIOALIGN the devices reported at
//! start (checked there to divide `BLOCK_BYTES`).
//!
//! Buffers come from a bounded per-thread pool (`POOL_BYTES_MAX` per thread, at most
//! `POOL_BUFFERS_PER_SIZE` of one size class): a freed buffer goes back to the pool of the
//! thread that drops it, so the steady state allocates nothing and touches no fresh pages.
//! Allocations are rounded up to size classes (`size_class`), so that stripes and journal
//! entries of slightly different sizes reuse each other's buffers.
//! `zeroed` hands out zeros (padding in shards is zeros, and CRCs cover it); `dirty` hands
//! out initialised memory with unspecified contents, for buffers that will be overwritten
//! whole (reads, full stripes).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ptr::NonNull;

use crate::constants::BLOCK_BYTES;

pub struct AlignedBuf {
    ptr: NonNull<u8>,
    /// Bytes usable: `len` rounded up to the block.
    capacity: usize,
    /// Bytes allocated (`size_class(capacity)`): the pool key and the layout size.
    allocated: usize,
    len: usize,
}

/// The allocation size for a buffer of `capacity` bytes: powers of two and three quarters of
/// them (from 16 KiB), so buffers of nearby sizes — batches differ by a few blocks — share a
/// pool list and a freed one serves the next request (at most a third of it unused).
fn size_class(capacity: usize) -> usize {
    let block = BLOCK_BYTES as usize;
    debug_assert!(capacity > 0 && capacity.is_multiple_of(block));
    let power = capacity.next_power_of_two();
    let three_quarters = power / 4 * 3;
    let class = if power >= 4 * block && capacity <= three_quarters {
        three_quarters
    } else {
        power
    };
    debug_assert!(class >= capacity && class.is_multiple_of(block));
    class
}

// SAFETY: the buffer exclusively owns its allocation (like `Vec<u8>`), so moving it to another
// thread is sound; it is handed to the kernel only through monoio while pinned by the op.
unsafe impl Send for AlignedBuf {}
// SAFETY: `&AlignedBuf` only gives read access to initialised bytes.
unsafe impl Sync for AlignedBuf {}

/// Bytes of free buffers a thread keeps for reuse.
pub const POOL_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Free buffers of one capacity a thread keeps.
pub const POOL_BUFFERS_PER_SIZE: usize = 512;

struct Pool {
    free: HashMap<usize, Vec<NonNull<u8>>>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool { free: HashMap::new(), bytes: 0 });
}

impl Drop for Pool {
    fn drop(&mut self) {
        for (capacity, list) in self.free.drain() {
            let layout =
                Layout::from_size_align(capacity, BLOCK_BYTES as usize).expect("valid layout");
            for ptr in list {
                // SAFETY: every pooled pointer was allocated with exactly this layout.
                unsafe { dealloc(ptr.as_ptr(), layout) }
            }
        }
    }
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes, capacity rounded up to the block.
    pub fn zeroed(len: usize) -> AlignedBuf {
        let (buf, recycled) = AlignedBuf::take(len);
        if recycled {
            // SAFETY: the pointer is valid for `capacity` bytes.
            unsafe { std::ptr::write_bytes(buf.ptr.as_ptr(), 0, buf.capacity) };
        }
        buf
    }

    /// A buffer of `len` bytes whose contents are initialised but unspecified.
    pub fn dirty(len: usize) -> AlignedBuf {
        AlignedBuf::take(len).0
    }

    /// A buffer from the pool (`true`: it holds stale bytes) or freshly allocated (zeros).
    fn take(len: usize) -> (AlignedBuf, bool) {
        let block = BLOCK_BYTES as usize;
        let capacity = len.div_ceil(block).max(1) * block;
        let allocated = size_class(capacity);
        let pooled = POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            let ptr = pool.free.get_mut(&allocated).and_then(Vec::pop);
            if ptr.is_some() {
                pool.bytes -= allocated;
            }
            ptr
        });
        if let Some(ptr) = pooled {
            return (
                AlignedBuf {
                    ptr,
                    capacity,
                    allocated,
                    len,
                },
                true,
            );
        }
        let layout = Layout::from_size_align(allocated, block).expect("valid layout");
        // SAFETY: the layout has non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        (
            AlignedBuf {
                ptr,
                capacity,
                allocated,
                len,
            },
            false,
        )
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the length (bytes beyond the old length are whatever the buffer held: zeroes for a
    /// fresh buffer, or data a read put there).
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity);
        self.len = len;
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `capacity` initialised bytes (zeroed at allocation) and
        // `len <= capacity`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let (ptr, allocated) = (self.ptr, self.allocated);
        let kept = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.bytes + allocated > POOL_BYTES_MAX {
                return false;
            }
            let list = pool.free.entry(allocated).or_default();
            if list.len() >= POOL_BUFFERS_PER_SIZE {
                return false;
            }
            list.push(ptr);
            pool.bytes += allocated;
            true
        });
        if kept == Ok(true) {
            return;
        }
        let layout =
            Layout::from_size_align(allocated, BLOCK_BYTES as usize).expect("valid layout");
        // SAFETY: allocated in `take` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

// SAFETY: `read_ptr` is stable for the buffer's lifetime (heap allocation that never moves)
// and `bytes_init` bytes from it are initialised.
unsafe impl monoio::buf::IoBuf for AlignedBuf {
    fn read_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
}

// SAFETY: `write_ptr` is stable and valid for `capacity` bytes; the whole capacity is
// initialised memory (zeroed at allocation), so any `set_init(pos <= capacity)` is sound.
unsafe impl monoio::buf::IoBufMut for AlignedBuf {
    fn write_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    fn bytes_total(&mut self) -> usize {
        self.capacity
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.len = pos;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_and_zeroes() {
        for len in [0, 1, 4095, 4096, 4097, 1 << 20] {
            let b = AlignedBuf::zeroed(len);
            assert_eq!(b.as_slice().as_ptr() as usize % BLOCK_BYTES as usize, 0);
            assert_eq!(b.capacity() % BLOCK_BYTES as usize, 0);
            assert!(b.capacity() >= len);
            assert!(b.as_slice().iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn size_classes_cover_and_share() {
        let block = BLOCK_BYTES as usize;
        for blocks in 1..=600 {
            let capacity = blocks * block;
            let class = size_class(capacity);
            assert!(class >= capacity && class.is_multiple_of(block));
            assert!(
                class * 2 <= capacity * 3 + block,
                "{capacity} -> {class}: at most a third unused"
            );
        }
        assert_eq!(size_class(68 * 1024), 96 * 1024);
        assert_eq!(
            size_class(80 * 1024),
            96 * 1024,
            "nearby sizes share a class"
        );
        // A buffer freed at one size serves a request of another in its class.
        let a = AlignedBuf::dirty(70 * 1024);
        let ptr = a.as_slice().as_ptr();
        drop(a);
        let b = AlignedBuf::dirty(88 * 1024);
        assert_eq!(b.as_slice().as_ptr(), ptr);
        assert_eq!(b.capacity(), 88 * 1024);
    }

    #[test]
    fn pooled_buffers_are_reused_and_zeroed_on_request() {
        let mut a = AlignedBuf::dirty(8192);
        a.as_mut_slice().fill(7);
        let ptr = a.as_slice().as_ptr();
        drop(a);
        let b = AlignedBuf::zeroed(8000);
        assert_eq!(b.as_slice().as_ptr(), ptr, "the freed buffer is reused");
        assert_eq!(b.capacity(), 8192);
        assert_eq!(b.len(), 8000);
        assert!(
            b.as_slice().iter().all(|&x| x == 0),
            "zeroed means zeros even when recycled"
        );
    }
}
