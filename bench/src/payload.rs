//! Object data for uploads: one random buffer, generated once and shared read-only.
//!
//! Owns: the payload buffer and the choice of where each upload starts in it. Must not:
//! allocate or generate data per request — the point is that upload cost is the syscall, not
//! the generator. Invariants: every upload of `len <= PAYLOAD_BUFFER_BYTES_MAX` bytes is one
//! contiguous slice starting at a random offset below `PAYLOAD_SLACK_BYTES`, so objects of a
//! run differ from each other; larger objects repeat the buffer (a deduplicating server could
//! notice the period, which is documented).

use std::sync::Arc;

use crate::conn::RequestBody;
use crate::constants::{PAYLOAD_BUFFER_BYTES_MAX, PAYLOAD_SLACK_BYTES};
use crate::rng::Rng;

#[derive(Clone)]
pub struct Payload {
    data: Arc<[u8]>,
}

impl Payload {
    /// A buffer good for objects of up to `largest_object_bytes` bytes.
    pub fn new(largest_object_bytes: u64, rng: &mut Rng) -> Payload {
        let core = largest_object_bytes.min((PAYLOAD_BUFFER_BYTES_MAX - PAYLOAD_SLACK_BYTES) as u64)
            as usize;
        let mut data = vec![0u8; core + PAYLOAD_SLACK_BYTES];
        rng.fill(&mut data);
        Payload { data: data.into() }
    }

    /// The body of one upload of `len` bytes.
    pub fn body(&self, len: u64, rng: &mut Rng) -> RequestBody<'_> {
        let offset = rng.below(PAYLOAD_SLACK_BYTES);
        debug_assert!(offset < self.data.len());
        RequestBody::Repeat {
            data: &self.data,
            offset,
            len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_asked_length_and_differ() {
        let mut rng = Rng::from_seed(5);
        let payload = Payload::new(4096, &mut rng);
        let first = payload.body(4096, &mut rng);
        let second = payload.body(4096, &mut rng);
        let (
            RequestBody::Repeat {
                offset: a,
                len,
                data,
            },
            RequestBody::Repeat { offset: b, .. },
        ) = (first, second)
        else {
            panic!("payload bodies are Repeat bodies");
        };
        assert_eq!(len, 4096);
        assert!(
            a + 4096 <= data.len(),
            "small objects are one contiguous slice"
        );
        assert_ne!(a, b, "offsets should differ between uploads");
    }
}
