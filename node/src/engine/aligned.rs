//! Aligned buffers for O_DIRECT I/O, owned so io_uring can hold them across an `.await`.
//!
//! The pointer of an `AlignedBuf` is aligned to `BLOCK_BYTES` and its capacity is a multiple
//! of it, so any whole-buffer read or write satisfies the DIOALIGN the devices reported at
//! start (checked there to divide `BLOCK_BYTES`). The buffer is zero-initialised: padding in
//! shards is zeros, and CRCs cover it.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use crate::constants::BLOCK_BYTES;

pub struct AlignedBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
}

// SAFETY: the buffer exclusively owns its allocation (like `Vec<u8>`), so moving it to another
// thread is sound; it is handed to the kernel only through monoio while pinned by the op.
unsafe impl Send for AlignedBuf {}
// SAFETY: `&AlignedBuf` only gives read access to initialised bytes.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes, capacity rounded up to the block.
    pub fn zeroed(len: usize) -> AlignedBuf {
        let block = BLOCK_BYTES as usize;
        let capacity = len.div_ceil(block).max(1) * block;
        let layout = Layout::from_size_align(capacity, block).expect("valid layout");
        // SAFETY: the layout has non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, capacity, len }
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
        let layout =
            Layout::from_size_align(self.capacity, BLOCK_BYTES as usize).expect("valid layout");
        // SAFETY: allocated in `zeroed` with exactly this layout.
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
}
