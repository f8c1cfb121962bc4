//! The OTLP receiver's body handling on any bytes: decompression (gzip,
//! deflate), protobuf and JSON decoding, spans into rows. It never panics;
//! a refusal is a 400/413/503 naming the body; whatever it stores the
//! consumer's record walk accepts (header, row count, layout, owner), and
//! stored plus rejected spans never exceed what was sent.
#![no_main]

use std::sync::Arc;

use downpour::bus::record;
use downpour::edge::budget::BodyBudget;
use downpour::edge::otlp::{self, Encoding, Format, Wire};
use downpour::edge::validate::Envelope;
use downpour::pipeline::{Limits, StreamKind};
use downpour::sink::layout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let wire = Wire {
        format: if selector & 1 == 0 {
            Format::Protobuf
        } else {
            Format::Json
        },
        encoding: match (selector >> 1) % 3 {
            0 => Encoding::Identity,
            1 => Encoding::Gzip,
            _ => Encoding::Deflate,
        },
    };
    // Small limits, so the span count, the row size and the inflated size
    // are all reached.
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
    let budget = BodyBudget::new(64 << 20, 1.0);
    let org: Arc<str> = Arc::from("org_fuzz");
    let Some(mut reserved) = budget.reserve(&org, body.len()) else {
        return;
    };
    let decoding = BodyBudget::new(64 << 20, 1.0);
    match otlp::encode(
        wire,
        body.to_vec(),
        1 << 20,
        &mut reserved,
        &decoding,
        &limits,
        &env,
    ) {
        Err(refusal) => {
            let status = refusal.status.as_u16();
            assert!(matches!(status, 400 | 413 | 503), "{refusal:?}");
            if status != 503 {
                assert_eq!(refusal.param.as_deref(), Some("body"), "{refusal:?}");
            }
        }
        Ok((encoded, rejected)) => {
            let mut rows = 0usize;
            for value in &encoded.records {
                let view = record::parse(value, StreamKind::Spans)
                    .expect("the edge's record has a valid header");
                layout::check(StreamKind::Spans, view.body, view.rows, b"org_fuzz/proj")
                    .expect("the edge's rows walk as the consumer reads them");
                rows += view.rows as usize;
            }
            assert_eq!(rows, encoded.items, "one row per stored span");
            assert!(encoded.items + rejected.spans <= limits.max_items);
            assert!(rejected.reasons.len() <= rejected.spans);
        }
    }
});
