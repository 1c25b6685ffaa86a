//! Data files are preallocated ahead of the shards written to them (`DevHandle::reserve`), so
//! shard writes do not extend the file (which ext4 only does under the inode's exclusive
//! lock, forcing io_uring to hand the write to a worker thread) — and a large object still
//! reads back byte for byte, before and after a restart.

mod common;

use common::*;
use tessera::engine::erasure::Geometry;

#[test]
fn data_files_are_allocated_ahead_of_their_shards() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let geometry = Geometry::new(4, 2).unwrap();
    let value = data(7, 3 * 1024 * 1024 + 123);
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices(tmp.path(), 6));
        put(&store, "big", value.clone()).await.unwrap();
        assert_eq!(get(&store, "big").await.unwrap().as_ref(), Some(&value));
    });
    drop(rt);
    let free = free_bytes(tmp.path());
    for dev in 0..6 {
        let path = tmp.path().join(format!("d{dev}/tessera/core-0.data"));
        let size = std::fs::metadata(&path).unwrap().len();
        // 3 MiB over 4 data shards: under 1 MiB of shards per device, but a step ahead of
        // them is allocated (a step is at most 1/64 of the free space, at least 1 MiB).
        if free / 64 >= 4 << 20 {
            assert!(
                size >= 4 << 20,
                "d{dev}: data file of {size} bytes is preallocated"
            );
        }
        assert!(size.is_multiple_of(4096), "d{dev}: whole blocks");
    }
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices_again(tmp.path(), 6));
        assert_eq!(get(&store, "big").await.unwrap().as_ref(), Some(&value));
    });
}

/// Free bytes of the filesystem holding `path`.
fn free_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: an all-zero statvfs is valid; `c` is a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers for the call.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail as u64 * st.f_frsize as u64
}
