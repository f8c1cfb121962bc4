//! The edge's validation on any body, for every stream: it never panics, a
//! refusal is a 400/413 naming a field, and whatever it accepts the
//! consumer's record walk accepts too (header, row count, layout, owner).
#![no_main]

use downpour::bus::record;
use downpour::edge::validate::{Envelope, encode};
use downpour::pipeline::{Limits, StreamKind};
use downpour::sink::layout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let kind = StreamKind::JSON[usize::from(selector) % StreamKind::JSON.len()];
    // Small limits, so truncation and the item count are reached too.
    let limits = Limits {
        max_items: 64,
        max_item_bytes: 2048,
    };
    let env = Envelope {
        redaction: None,
        retention: downpour::registry::projects::Retention::DEFAULT,
        org: "org_fuzz",
        project: "proj",
        received_us: 1_700_000_000_000_000,
    };
    let mut body = body.to_vec();
    match encode(kind, &limits, &mut body, &env) {
        Err(refusal) => {
            assert!(
                refusal.status == 400 || refusal.status == 413,
                "{refusal:?}"
            );
            assert!(
                !refusal.param.is_empty() && !refusal.reason.is_empty(),
                "{refusal:?}"
            );
        }
        Ok(encoded) => {
            let mut rows = 0usize;
            for value in &encoded.records {
                let view =
                    record::parse(value, kind).expect("the edge's record has a valid header");
                layout::check(kind, view.body, view.rows, b"org_fuzz/proj")
                    .expect("the edge's rows walk as the consumer reads them");
                rows += view.rows as usize;
            }
            assert_eq!(rows, encoded.items, "one row per item");
        }
    }
});
