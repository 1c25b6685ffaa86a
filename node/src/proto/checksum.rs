//! Object checksums S3 clients send and expect back: `x-amz-checksum-{crc32, crc32c,
//! crc64nvme, sha1, sha256}` and `Content-MD5`.
//!
//! Owns: the algorithm names as they appear on the wire, incremental hashing, and the base64
//! forms of digests.
//! Must not: decide what a mismatch means for a request (the handler answers `BadDigest`).
//! Invariants: digests are raw bytes, CRCs big-endian, exactly as AWS base64-encodes them;
//! every decoder of client input returns a typed error, never panics.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::Digest as _;

use crate::proto::error::{S3Error, S3ErrorCode};

/// The additional checksum algorithms of S3 (`x-amz-checksum-algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumAlgo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgo {
    /// Every algorithm, in the order S3 documents them.
    pub const ALL: [ChecksumAlgo; 5] = [
        ChecksumAlgo::Crc32,
        ChecksumAlgo::Crc32c,
        ChecksumAlgo::Crc64Nvme,
        ChecksumAlgo::Sha1,
        ChecksumAlgo::Sha256,
    ];

    /// The algorithm whose header is `name` (e.g. `x-amz-checksum-crc32`), case-insensitive.
    pub fn from_header_name(name: &str) -> Option<ChecksumAlgo> {
        Self::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name))
    }

    /// The header (and trailer) carrying this checksum, lowercase.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgo::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgo::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgo::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgo::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgo::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm named `name` in `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`
    /// (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`), case-insensitive.
    pub fn from_algorithm_name(name: &str) -> Option<ChecksumAlgo> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The algorithm's name as S3 spells it (`ChecksumAlgorithm` in XML).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgo::Crc32 => "CRC32",
            ChecksumAlgo::Crc32c => "CRC32C",
            ChecksumAlgo::Crc64Nvme => "CRC64NVME",
            ChecksumAlgo::Sha1 => "SHA1",
            ChecksumAlgo::Sha256 => "SHA256",
        }
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgo::Crc32 | ChecksumAlgo::Crc32c => 4,
            ChecksumAlgo::Crc64Nvme => 8,
            ChecksumAlgo::Sha1 => 20,
            ChecksumAlgo::Sha256 => 32,
        }
    }

    /// Decodes a client-supplied base64 checksum value for this algorithm. A value that is not
    /// base64 or not of the digest's length is `InvalidRequest`, worded as S3 words it.
    pub fn decode_value(self, b64: &str) -> Result<Vec<u8>, S3Error> {
        match STANDARD.decode(b64.trim()) {
            Ok(raw) if raw.len() == self.digest_len() => Ok(raw),
            _ => Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!("Value for {} header is invalid.", self.header_name()),
            )),
        }
    }
}

/// The running state of one checksum algorithm.
#[derive(Clone)]
enum HasherState {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

/// An incremental checksum of one of the [`ChecksumAlgo`]s.
#[derive(Clone)]
pub struct Hasher {
    state: HasherState,
}

impl Hasher {
    pub fn new(algo: ChecksumAlgo) -> Hasher {
        let state = match algo {
            ChecksumAlgo::Crc32 => HasherState::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgo::Crc32c => HasherState::Crc32c(0),
            ChecksumAlgo::Crc64Nvme => HasherState::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgo::Sha1 => HasherState::Sha1(sha1::Sha1::new()),
            ChecksumAlgo::Sha256 => HasherState::Sha256(sha2::Sha256::new()),
        };
        Hasher { state }
    }

    pub fn algo(&self) -> ChecksumAlgo {
        match self.state {
            HasherState::Crc32(_) => ChecksumAlgo::Crc32,
            HasherState::Crc32c(_) => ChecksumAlgo::Crc32c,
            HasherState::Crc64Nvme(_) => ChecksumAlgo::Crc64Nvme,
            HasherState::Sha1(_) => ChecksumAlgo::Sha1,
            HasherState::Sha256(_) => ChecksumAlgo::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HasherState::Crc32(h) => h.update(data),
            HasherState::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            HasherState::Crc64Nvme(h) => h.write(data),
            HasherState::Sha1(h) => h.update(data),
            HasherState::Sha256(h) => h.update(data),
        }
    }

    /// The raw digest: big-endian for CRCs, as AWS encodes them before base64.
    pub fn finish(self) -> Vec<u8> {
        match self.state {
            HasherState::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            HasherState::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            HasherState::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
            HasherState::Sha1(h) => h.finalize().to_vec(),
            HasherState::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Standard base64 with padding, as S3 sends checksums and ETags of MD5s.
pub fn to_base64(raw: &[u8]) -> String {
    STANDARD.encode(raw)
}

/// An incremental MD5 (for `Content-MD5` and ETags).
#[derive(Clone, Default)]
/// One MD5 stream (`md5_many`'s single-stream path: AVX-512VL where the CPU has it, ~30%
/// faster than RustCrypto's asm here). Many concurrent uploads hash in SIMD lanes instead:
/// `server::md5lanes`.
pub struct Md5Hasher(md5_many::Md5State);

impl Md5Hasher {
    pub fn new() -> Md5Hasher {
        Md5Hasher(md5_many::Md5State::new())
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 16] {
        self.0.finalize()
    }
}

/// Decodes a `Content-MD5` header: base64 of exactly 16 bytes, else `InvalidDigest`.
pub fn parse_content_md5(header_b64: &str) -> Result<[u8; 16], S3Error> {
    STANDARD
        .decode(header_b64.trim())
        .ok()
        .and_then(|raw| <[u8; 16]>::try_from(raw).ok())
        .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidDigest))
}

/// Whether `Content-MD5` (base64) names `digest`. A malformed header is `InvalidDigest`; a
/// well-formed one that differs is `Ok(false)` (the caller answers `BadDigest`).
pub fn content_md5_matches(header_b64: &str, digest: &[u8; 16]) -> Result<bool, S3Error> {
    let claimed = parse_content_md5(header_b64)?;
    Ok(subtle::ConstantTimeEq::ct_eq(&claimed[..], &digest[..]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (algo, input, hex digest, base64 digest).
    const VECTORS: &[(ChecksumAlgo, &[u8], &str, &str)] = &[
        (ChecksumAlgo::Crc32, b"123456789", "cbf43926", "y/Q5Jg=="),
        (ChecksumAlgo::Crc32c, b"123456789", "e3069283", "4waSgw=="),
        (
            ChecksumAlgo::Crc64Nvme,
            b"123456789",
            "ae8b14860a799888",
            "rosUhgp5mIg=",
        ),
        (
            ChecksumAlgo::Sha1,
            b"123456789",
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
            "98O8HYCOBHMq32eZZczDTKeuNEE=",
        ),
        (
            ChecksumAlgo::Sha256,
            b"123456789",
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
            "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=",
        ),
        (ChecksumAlgo::Crc32, b"", "00000000", "AAAAAA=="),
        (ChecksumAlgo::Crc32c, b"", "00000000", "AAAAAA=="),
        (
            ChecksumAlgo::Crc64Nvme,
            b"",
            "0000000000000000",
            "AAAAAAAAAAA=",
        ),
        (ChecksumAlgo::Crc32, b"Hello world", "8bd69e52", "i9aeUg=="),
        (ChecksumAlgo::Crc32c, b"Hello world", "72b51f78", "crUfeA=="),
    ];

    #[test]
    fn known_vectors_whole_and_split() {
        for (algo, input, hex_want, b64_want) in VECTORS {
            let mut whole = Hasher::new(*algo);
            whole.update(input);
            let digest = whole.finish();
            assert_eq!(hex::encode(&digest), *hex_want, "{algo:?} {input:?}");
            assert_eq!(to_base64(&digest), *b64_want, "{algo:?}");
            assert_eq!(digest.len(), algo.digest_len());
            assert_eq!(algo.decode_value(b64_want).unwrap(), digest);

            let mut split = Hasher::new(*algo);
            for byte in input.iter() {
                split.update(std::slice::from_ref(byte));
            }
            assert_eq!(split.algo(), *algo);
            assert_eq!(split.finish(), digest, "{algo:?} split");
        }
    }

    #[test]
    fn crc32c_of_aws_trailer_example() {
        // The aws-chunked trailer example checksums 66560 bytes of 'a' with CRC32C: sOO8/Q==.
        let mut h = Hasher::new(ChecksumAlgo::Crc32c);
        h.update(&[b'a'; 65_536]);
        h.update(&[b'a'; 1024]);
        assert_eq!(to_base64(&h.finish()), "sOO8/Q==");
    }

    #[test]
    fn names_round_trip() {
        for algo in ChecksumAlgo::ALL {
            assert_eq!(
                ChecksumAlgo::from_header_name(algo.header_name()),
                Some(algo)
            );
            assert_eq!(ChecksumAlgo::from_algorithm_name(algo.name()), Some(algo));
            let upper = algo.header_name().to_ascii_uppercase();
            assert_eq!(ChecksumAlgo::from_header_name(&upper), Some(algo));
            let lower = algo.name().to_ascii_lowercase();
            assert_eq!(ChecksumAlgo::from_algorithm_name(&lower), Some(algo));
        }
        let table = [
            ("x-amz-checksum-md5", None),
            ("x-amz-checksum-", None),
            ("x-amz-checksum-crc32c", Some(ChecksumAlgo::Crc32c)),
            ("x-amz-checksum-type", None),
        ];
        for (name, want) in table {
            assert_eq!(ChecksumAlgo::from_header_name(name), want, "{name}");
        }
        for name in ["MD5", "CRC", "CRC64", "", "SHA-256"] {
            assert_eq!(ChecksumAlgo::from_algorithm_name(name), None, "{name}");
        }
    }

    #[test]
    fn decode_value_rejects_bad_input() {
        let table: &[(ChecksumAlgo, &str)] = &[
            (ChecksumAlgo::Crc32, "not base64!"),
            (ChecksumAlgo::Crc32, "AAAAAAAAAAA="), // 8 bytes for a 4-byte CRC
            (ChecksumAlgo::Crc64Nvme, "AAAAAA=="), // 4 bytes for an 8-byte CRC
            (ChecksumAlgo::Sha256, "y/Q5Jg=="),
            (ChecksumAlgo::Crc32, "y/Q5Jg"), // padding required
            (ChecksumAlgo::Crc32, ""),
        ];
        for (algo, value) in table {
            let err = algo.decode_value(value).unwrap_err();
            assert_eq!(err.code, S3ErrorCode::InvalidRequest, "{algo:?} {value:?}");
            assert!(err.message.contains(algo.header_name()));
        }
    }

    #[test]
    fn content_md5() {
        use md5::Digest as _;
        let mut h = Md5Hasher::new();
        h.update(b"Welcome to ");
        h.update(b"Amazon S3.");
        let digest = h.finish();
        let whole: [u8; 16] = md5::Md5::digest(b"Welcome to Amazon S3.").into();
        assert_eq!(digest, whole);
        let b64 = to_base64(&digest);
        assert_eq!(content_md5_matches(&b64, &digest), Ok(true));
        assert_eq!(
            content_md5_matches(" 1B2M2Y8AsgTpgAmY7PhCfg== ", &digest),
            Ok(false)
        );

        let empty: [u8; 16] = md5::Md5::digest(b"").into();
        assert_eq!(to_base64(&empty), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(
            content_md5_matches("1B2M2Y8AsgTpgAmY7PhCfg==", &empty),
            Ok(true)
        );

        for bad in [
            "",
            "garbage!",
            "AAAA",
            "1B2M2Y8AsgTpgAmY7PhCfg",
            "1B2M2Y8AsgTpgAmY7PhCfgAA",
        ] {
            let err = content_md5_matches(bad, &empty).unwrap_err();
            assert_eq!(err.code, S3ErrorCode::InvalidDigest, "{bad:?}");
        }
    }
}
