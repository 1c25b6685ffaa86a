//! MD5 (RFC 1321) over several independent streams at once, for `md5lanes`.
//!
//! One MD5 stream is a chain of 64 steps per 64-byte block, each waiting on the one before:
//! a core runs it at ~4.5 cycles per byte with most of its ALUs idle. Independent streams
//! fill them, in two ways:
//! - **interleaved scalar** (`compress_ilp::<N>`, N ≤ 4): N streams' steps written side by
//!   side, so the CPU overlaps their chains;
//! - **AVX-512** (`avx512::compress16`): 16 streams, one per 32-bit lane, when the CPU has it
//!   and at least `SIMD_MIN` streams have data.
//!
//! Measured on this machine (one 256 KiB chunk per stream, one call): 1 stream 344 µs,
//! 2 streams 343 µs, 3 streams 358 µs, 4 streams 487 µs, 5 to 16 streams 632 µs. The
//! `md5_many` crate this replaces hashes one stream in 280 µs (a hand-scheduled assembly
//! kernel) and 16 in 620 µs, but had nothing between: 2 streams took 556 µs one after the
//! other, 3 or 4 took 620 µs padded to 16 lanes, and those narrow batches are the common
//! case (2.5 streams a batch on average under 16 concurrent 1 MiB PUTs on 2 cores).
//!
//! `update_many` takes any number of streams with inputs of any lengths and picks the kernel
//! for each group; a stream's partial block is kept in its state as in any incremental MD5.
//!
//! Invariants: `Md5::buf_len < 64` between calls; every byte given to a stream is hashed
//! exactly once, in order; `finalize` does not change the state.

/// Streams with data from which the 16-lane kernel beats interleaved scalar groups.
const SIMD_MIN: usize = 5;
/// The widest interleaved scalar group.
const ILP_MAX: usize = 4;

const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/// The 64 step constants of RFC 1321: floor(|sin(i + 1)| · 2^32).
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// Calls `$step!(i, g, s)` for the 64 steps: step `i` reads message word `g` and rotates by
/// `s` (RFC 1321, rounds of 16 with functions F, G, H, I).
macro_rules! md5_steps {
    ($f:ident, $g:ident, $h:ident, $i:ident) => {
        $f!(0, 0, 7);
        $f!(1, 1, 12);
        $f!(2, 2, 17);
        $f!(3, 3, 22);
        $f!(4, 4, 7);
        $f!(5, 5, 12);
        $f!(6, 6, 17);
        $f!(7, 7, 22);
        $f!(8, 8, 7);
        $f!(9, 9, 12);
        $f!(10, 10, 17);
        $f!(11, 11, 22);
        $f!(12, 12, 7);
        $f!(13, 13, 12);
        $f!(14, 14, 17);
        $f!(15, 15, 22);
        $g!(16, 1, 5);
        $g!(17, 6, 9);
        $g!(18, 11, 14);
        $g!(19, 0, 20);
        $g!(20, 5, 5);
        $g!(21, 10, 9);
        $g!(22, 15, 14);
        $g!(23, 4, 20);
        $g!(24, 9, 5);
        $g!(25, 14, 9);
        $g!(26, 3, 14);
        $g!(27, 8, 20);
        $g!(28, 13, 5);
        $g!(29, 2, 9);
        $g!(30, 7, 14);
        $g!(31, 12, 20);
        $h!(32, 5, 4);
        $h!(33, 8, 11);
        $h!(34, 11, 16);
        $h!(35, 14, 23);
        $h!(36, 1, 4);
        $h!(37, 4, 11);
        $h!(38, 7, 16);
        $h!(39, 10, 23);
        $h!(40, 13, 4);
        $h!(41, 0, 11);
        $h!(42, 3, 16);
        $h!(43, 6, 23);
        $h!(44, 9, 4);
        $h!(45, 12, 11);
        $h!(46, 15, 16);
        $h!(47, 2, 23);
        $i!(48, 0, 6);
        $i!(49, 7, 10);
        $i!(50, 14, 15);
        $i!(51, 5, 21);
        $i!(52, 12, 6);
        $i!(53, 3, 10);
        $i!(54, 10, 15);
        $i!(55, 1, 21);
        $i!(56, 8, 6);
        $i!(57, 15, 10);
        $i!(58, 6, 15);
        $i!(59, 13, 21);
        $i!(60, 4, 6);
        $i!(61, 11, 10);
        $i!(62, 2, 15);
        $i!(63, 9, 21);
    };
}

/// One stream's incremental MD5.
#[derive(Clone, Copy, Debug)]
pub struct Md5 {
    state: [u32; 4],
    buf: [u8; 64],
    buf_len: usize,
    total: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Md5::new()
    }
}

impl Md5 {
    pub const fn new() -> Md5 {
        Md5 {
            state: INIT,
            buf: [0; 64],
            buf_len: 0,
            total: 0,
        }
    }

    /// Hashes `data` into this stream alone.
    pub fn update(&mut self, data: &[u8]) {
        update_many(std::slice::from_mut(self), &[data]);
    }

    /// The digest of everything given so far (the stream may go on).
    pub fn finalize(&self) -> [u8; 16] {
        let mut tail = [0u8; 128];
        tail[..self.buf_len].copy_from_slice(&self.buf[..self.buf_len]);
        tail[self.buf_len] = 0x80;
        let blocks = if self.buf_len < 56 { 1 } else { 2 };
        let end = blocks * 64;
        tail[end - 8..end].copy_from_slice(&(self.total.wrapping_mul(8)).to_le_bytes());
        let mut state = [self.state];
        for block in tail[..end].chunks_exact(64) {
            compress_ilp::<1>(&mut state, [block]);
        }
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(state[0]) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Moves up to a block's worth of the front of `data` into the partial block; returns
    /// how much it took. Compresses the block if it is now full.
    fn fill_partial(&mut self, data: &[u8]) -> usize {
        if self.buf_len == 0 {
            return 0;
        }
        let take = (64 - self.buf_len).min(data.len());
        self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
        self.buf_len += take;
        if self.buf_len == 64 {
            let block = self.buf;
            let mut state = [self.state];
            compress_ilp::<1>(&mut state, [&block[..]]);
            self.state = state[0];
            self.buf_len = 0;
        }
        take
    }
}

/// Hashes `inputs[n]` into `streams[n]`, all streams together.
pub fn update_many(streams: &mut [Md5], inputs: &[&[u8]]) {
    update_many_with(streams, inputs, simd_available());
}

fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return avx512::available();
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// `update_many`, with the AVX-512 kernel used only if `simd` (tests run both ways).
fn update_many_with(streams: &mut [Md5], inputs: &[&[u8]], simd: bool) {
    assert_eq!(streams.len(), inputs.len());
    // Each stream's remaining input; whole blocks are hashed in lockstep rounds, the tail
    // goes to the partial block.
    let mut rest: Vec<&[u8]> = Vec::with_capacity(inputs.len());
    for (s, input) in streams.iter_mut().zip(inputs) {
        s.total = s.total.wrapping_add(input.len() as u64);
        let taken = s.fill_partial(input);
        rest.push(&input[taken..]);
    }
    let mut active: Vec<usize> = Vec::with_capacity(streams.len());
    loop {
        active.clear();
        active.extend((0..streams.len()).filter(|&n| rest[n].len() >= 64));
        let Some(blocks) = active.iter().map(|&n| rest[n].len() / 64).min() else {
            break;
        };
        let bytes = blocks * 64;
        compress_group(streams, &rest, &active, bytes, simd);
        for &n in &active {
            rest[n] = &rest[n][bytes..];
        }
    }
    for (s, tail) in streams.iter_mut().zip(rest) {
        debug_assert!(s.buf_len == 0 || tail.is_empty());
        if !tail.is_empty() {
            debug_assert!(tail.len() < 64);
            s.buf[..tail.len()].copy_from_slice(tail);
            s.buf_len = tail.len();
        }
    }
}

/// Hashes `bytes` (whole blocks) of `rest[n]` into `streams[n]` for every `n` in `active`:
/// groups of up to 16 in AVX-512 lanes while `SIMD_MIN` or more are left, the rest in
/// interleaved scalar groups of up to `ILP_MAX`.
fn compress_group(streams: &mut [Md5], rest: &[&[u8]], active: &[usize], bytes: usize, simd: bool) {
    debug_assert!(bytes.is_multiple_of(64));
    let mut groups = active;
    #[cfg(target_arch = "x86_64")]
    if simd {
        while groups.len() >= SIMD_MIN {
            let (group, more) = groups.split_at(groups.len().min(16));
            let mut states = [[0u32; 4]; 16];
            // Lanes past the group hash a copy of its first input into throwaway states.
            let mut inputs: [&[u8]; 16] = [&rest[group[0]][..bytes]; 16];
            for (lane, &n) in group.iter().enumerate() {
                states[lane] = streams[n].state;
                inputs[lane] = &rest[n][..bytes];
            }
            avx512::compress16(&mut states, &inputs);
            for (lane, &n) in group.iter().enumerate() {
                streams[n].state = states[lane];
            }
            groups = more;
        }
    }
    while !groups.is_empty() {
        let (group, more) = groups.split_at(groups.len().min(ILP_MAX));
        match group.len() {
            1 => ilp_run::<1>(streams, rest, group, bytes),
            2 => ilp_run::<2>(streams, rest, group, bytes),
            3 => ilp_run::<3>(streams, rest, group, bytes),
            _ => ilp_run::<4>(streams, rest, group, bytes),
        }
        groups = more;
    }
}

/// One instance per width, never inlined: inlined into `compress_group` the 3-wide
/// instance was measured 60 % slower (its registers allocated worse).
#[inline(never)]
fn ilp_run<const N: usize>(streams: &mut [Md5], rest: &[&[u8]], group: &[usize], bytes: usize) {
    debug_assert_eq!(group.len(), N);
    let mut states: [[u32; 4]; N] = std::array::from_fn(|i| streams[group[i]].state);
    for offset in (0..bytes).step_by(64) {
        let blocks: [&[u8]; N] = std::array::from_fn(|i| &rest[group[i]][offset..offset + 64]);
        compress_ilp(&mut states, blocks);
    }
    for (i, &n) in group.iter().enumerate() {
        streams[n].state = states[i];
    }
}

/// One 64-byte block into each of N states, their steps interleaved.
#[inline(always)]
fn compress_ilp<const N: usize>(states: &mut [[u32; 4]; N], blocks: [&[u8]; N]) {
    let mut m = [[0u32; 16]; N];
    for (words, block) in m.iter_mut().zip(blocks) {
        debug_assert_eq!(block.len(), 64);
        for (w, bytes) in words.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
    }
    let mut a: [u32; N] = std::array::from_fn(|n| states[n][0]);
    let mut b: [u32; N] = std::array::from_fn(|n| states[n][1]);
    let mut c: [u32; N] = std::array::from_fn(|n| states[n][2]);
    let mut d: [u32; N] = std::array::from_fn(|n| states[n][3]);
    // Each step adds the constant and message word to `a` first: that sum does not wait on
    // the previous step, so only the function of `b`, one add, the rotate and the add of `b`
    // are on the chain.
    macro_rules! step {
        ($i:expr, $g:expr, $s:expr, $fun:expr) => {
            for n in 0..N {
                let pre = a[n].wrapping_add(K[$i].wrapping_add(m[n][$g]));
                let t: u32 = $fun(pre, b[n], c[n], d[n]);
                a[n] = d[n];
                d[n] = c[n];
                c[n] = b[n];
                b[n] = b[n].wrapping_add(t.rotate_left($s));
            }
        };
    }
    let ff = |p: u32, b: u32, c: u32, d: u32| p.wrapping_add(d ^ (b & (c ^ d)));
    let gg = |p: u32, b: u32, c: u32, d: u32| p.wrapping_add(c & !d).wrapping_add(b & d);
    let hh = |p: u32, b: u32, c: u32, d: u32| p.wrapping_add(b ^ (c ^ d));
    let ii = |p: u32, b: u32, c: u32, d: u32| p.wrapping_add(c ^ (b | !d));
    macro_rules! f {
        ($i:expr, $g:expr, $s:expr) => {
            step!($i, $g, $s, ff)
        };
    }
    macro_rules! g {
        ($i:expr, $g:expr, $s:expr) => {
            step!($i, $g, $s, gg)
        };
    }
    macro_rules! h {
        ($i:expr, $g:expr, $s:expr) => {
            step!($i, $g, $s, hh)
        };
    }
    macro_rules! i {
        ($i:expr, $g:expr, $s:expr) => {
            step!($i, $g, $s, ii)
        };
    }
    md5_steps!(f, g, h, i);
    for n in 0..N {
        states[n][0] = states[n][0].wrapping_add(a[n]);
        states[n][1] = states[n][1].wrapping_add(b[n]);
        states[n][2] = states[n][2].wrapping_add(c[n]);
        states[n][3] = states[n][3].wrapping_add(d[n]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::K;

    pub fn available() -> bool {
        std::is_x86_feature_detected!("avx512f")
    }

    /// `bytes` (whole blocks, the same for all) of `inputs[l]` into `states[l]`, l < 16.
    pub fn compress16(states: &mut [[u32; 4]; 16], inputs: &[&[u8]; 16]) {
        assert!(available());
        let len = inputs[0].len();
        assert!(len.is_multiple_of(64) && inputs.iter().all(|i| i.len() == len));
        // SAFETY: the CPU has AVX-512F (checked above); every input holds `len` bytes, and
        // `blocks` reads only whole blocks below `len`.
        unsafe { blocks(states, inputs, len / 64) }
    }

    // No closures in here: a closure does not inherit `target_feature`, and the intrinsics
    // in it would become calls.
    #[target_feature(enable = "avx512f")]
    unsafe fn blocks(states: &mut [[u32; 4]; 16], inputs: &[&[u8]; 16], count: usize) {
        let mut init = [[0u32; 16]; 4];
        for (l, state) in states.iter().enumerate() {
            for word in 0..4 {
                init[word][l] = state[word];
            }
        }
        // SAFETY (all loads and stores below): each array is 64 bytes (or 128 for `rel`).
        let mut sa = unsafe { _mm512_loadu_si512(init[0].as_ptr().cast()) };
        let mut sb = unsafe { _mm512_loadu_si512(init[1].as_ptr().cast()) };
        let mut sc = unsafe { _mm512_loadu_si512(init[2].as_ptr().cast()) };
        let mut sd = unsafe { _mm512_loadu_si512(init[3].as_ptr().cast()) };
        let mut m = [_mm512_setzero_si512(); 16];
        for block in 0..count {
            load_transposed(inputs, block * 64, &mut m);
            let (mut a, mut b, mut c, mut d) = (sa, sb, sc, sd);
            macro_rules! step {
                ($i:expr, $g:expr, $s:expr, $imm:expr) => {{
                    let pre = _mm512_add_epi32(
                        a,
                        _mm512_add_epi32(_mm512_set1_epi32(K[$i] as i32), m[$g]),
                    );
                    let f = _mm512_ternarylogic_epi32::<$imm>(b, c, d);
                    let t = _mm512_rol_epi32::<$s>(_mm512_add_epi32(pre, f));
                    a = d;
                    d = c;
                    c = b;
                    b = _mm512_add_epi32(b, t);
                }};
            }
            // Truth tables over (b, c, d): F = b ? c : d, G = d ? b : c, H = b ^ c ^ d,
            // I = c ^ (b | !d).
            macro_rules! f {
                ($i:expr, $g:expr, $s:expr) => {
                    step!($i, $g, $s, 0xCA)
                };
            }
            macro_rules! g {
                ($i:expr, $g:expr, $s:expr) => {
                    step!($i, $g, $s, 0xE4)
                };
            }
            macro_rules! h {
                ($i:expr, $g:expr, $s:expr) => {
                    step!($i, $g, $s, 0x96)
                };
            }
            macro_rules! i {
                ($i:expr, $g:expr, $s:expr) => {
                    step!($i, $g, $s, 0x39)
                };
            }
            md5_steps!(f, g, h, i);
            sa = _mm512_add_epi32(sa, a);
            sb = _mm512_add_epi32(sb, b);
            sc = _mm512_add_epi32(sc, c);
            sd = _mm512_add_epi32(sd, d);
        }
        let mut out = [[0u32; 16]; 4];
        unsafe {
            _mm512_storeu_si512(out[0].as_mut_ptr().cast(), sa);
            _mm512_storeu_si512(out[1].as_mut_ptr().cast(), sb);
            _mm512_storeu_si512(out[2].as_mut_ptr().cast(), sc);
            _mm512_storeu_si512(out[3].as_mut_ptr().cast(), sd);
        }
        for (l, state) in states.iter_mut().enumerate() {
            for word in 0..4 {
                state[word] = out[word][l];
            }
        }
    }

    /// m[g] = little-endian word g of the block at byte `at` of every lane (a 16 × 16
    /// transpose of 32-bit words: 16 loads, 64 shuffles).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load_transposed(inputs: &[&[u8]; 16], at: usize, m: &mut [__m512i; 16]) {
        let mut r = [_mm512_setzero_si512(); 16];
        for (row, input) in r.iter_mut().zip(inputs) {
            let block = &input[at..at + 64];
            // SAFETY: `block` is 64 bytes; unaligned loads are allowed.
            *row = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
        }
        // Pairs of rows interleaved by 32-bit words, then groups of 4 rows by 64-bit words:
        // v[4G + k] holds, in its 128-bit lane j, column k + 4j of rows 4G..4G+4.
        let mut t = [_mm512_setzero_si512(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        let mut v = [_mm512_setzero_si512(); 16];
        for g in 0..4 {
            let q = 4 * g;
            v[q] = _mm512_unpacklo_epi64(t[q], t[q + 2]);
            v[q + 1] = _mm512_unpackhi_epi64(t[q], t[q + 2]);
            v[q + 2] = _mm512_unpacklo_epi64(t[q + 1], t[q + 3]);
            v[q + 3] = _mm512_unpackhi_epi64(t[q + 1], t[q + 3]);
        }
        // Then the 128-bit lanes: column k + 4j of the four groups side by side.
        for k in 0..4 {
            let x01 = _mm512_shuffle_i32x4::<0x88>(v[k], v[4 + k]);
            let y01 = _mm512_shuffle_i32x4::<0xDD>(v[k], v[4 + k]);
            let x23 = _mm512_shuffle_i32x4::<0x88>(v[8 + k], v[12 + k]);
            let y23 = _mm512_shuffle_i32x4::<0xDD>(v[8 + k], v[12 + k]);
            m[k] = _mm512_shuffle_i32x4::<0x88>(x01, x23);
            m[k + 8] = _mm512_shuffle_i32x4::<0xDD>(x01, x23);
            m[k + 4] = _mm512_shuffle_i32x4::<0x88>(y01, y23);
            m[k + 12] = _mm512_shuffle_i32x4::<0xDD>(y01, y23);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;

    fn reference(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    fn data(seed: u64, len: usize) -> Vec<u8> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..len).map(|_| rng.gen()).collect()
    }

    #[test]
    fn rfc_vectors() {
        let mut s = Md5::new();
        assert_eq!(s.finalize(), reference(b""));
        s.update(b"abc");
        assert_eq!(
            s.finalize(),
            *b"\x90\x01\x50\x98\x3c\xd2\x4f\xb0\xd6\x96\x3f\x7d\x28\xe1\x7f\x72"
        );
    }

    /// Every width (1..=20 streams, so every kernel and the 16-lane padding) with unequal,
    /// unaligned pieces, fed over several calls, matches the reference digest — with and
    /// without the AVX-512 kernel.
    #[test]
    fn many_streams_in_uneven_pieces_match_the_reference() {
        for simd in [false, simd_available()] {
            uneven_pieces(simd);
        }
    }

    fn uneven_pieces(simd: bool) {
        for width in 1..=20usize {
            let bodies: Vec<Vec<u8>> = (0..width)
                .map(|n| data(n as u64 + 7 * width as u64, 200 + n * 997 + width * 61))
                .collect();
            let mut streams = vec![Md5::new(); width];
            let mut offsets = vec![0usize; width];
            let mut round = 0usize;
            while offsets.iter().zip(&bodies).any(|(o, b)| *o < b.len()) {
                let inputs: Vec<&[u8]> = (0..width)
                    .map(|n| {
                        let piece = 1 + (n * 131 + round * 37) % 700;
                        let end = (offsets[n] + piece).min(bodies[n].len());
                        &bodies[n][offsets[n]..end]
                    })
                    .collect();
                for (o, i) in offsets.iter_mut().zip(&inputs) {
                    *o += i.len();
                }
                update_many_with(&mut streams, &inputs, simd);
                round += 1;
            }
            for (s, b) in streams.iter().zip(&bodies) {
                assert_eq!(s.finalize(), reference(b), "width {width} simd {simd}");
            }
        }
    }

    #[test]
    fn finalize_leaves_the_stream_going() {
        let body = data(3, 5000);
        let mut s = Md5::new();
        s.update(&body[..100]);
        assert_eq!(s.finalize(), reference(&body[..100]));
        s.update(&body[100..]);
        assert_eq!(s.finalize(), reference(&body));
    }
}
