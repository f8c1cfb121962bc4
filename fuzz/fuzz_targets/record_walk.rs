//! The consumer's walk of a Kafka record it did not write (anyone with
//! broker access can produce one): header parse and layout check never
//! panic, whatever the bytes, key and stream.
#![no_main]

use downpour::bus::record;
use downpour::pipeline::StreamKind;
use downpour::sink::layout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    let kind = StreamKind::ALL[usize::from(selector) % StreamKind::ALL.len()];
    // The key is the bytes up to the first 0, the value the rest.
    let (key, value) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&b"org/proj"[..], rest),
    };
    if let Ok(view) = record::parse(value, kind) {
        let _ = layout::check(kind, view.body, view.rows, key);
    }
});
