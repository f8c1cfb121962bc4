//! Mini-fuzz: mutated bodies never panic, and get a decodable encoding or a named 4xx.

use super::spec::DOC_EVENT;
use super::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs `body` against `kind`: it must not panic, and the result must be a
/// decodable encoding or a 400/413 naming something.
fn check_never_panics(kind: StreamKind, limits: &Limits, body: &[u8]) -> Result<(), String> {
    let mut bytes = body.to_vec();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        encode(kind, limits, &mut bytes, &env())
    }));
    let shown = || String::from_utf8_lossy(body).into_owned();
    match result {
        Err(_) => Err(format!("{kind:?} panicked on {:?}", shown())),
        Ok(Err(e)) => {
            if (e.status == 400 || e.status == 413) && !e.param.is_empty() && !e.reason.is_empty() {
                Ok(())
            } else {
                Err(format!("{kind:?} bad refusal {e:?} on {:?}", shown()))
            }
        }
        Ok(Ok(enc)) => {
            let decoded = std::panic::catch_unwind(|| decode(kind, &enc.records));
            match decoded {
                Ok(rows) if rows.len() == enc.items && enc.items > 0 => Ok(()),
                Ok(rows) => Err(format!(
                    "{kind:?} {} rows for {} items on {:?}",
                    rows.len(),
                    enc.items,
                    shown()
                )),
                Err(_) => Err(format!("{kind:?} undecodable rows on {:?}", shown())),
            }
        }
    }
}

#[test]
fn mutated_bodies_never_panic() {
    let seeds: [(StreamKind, &str); 5] = [
        (
            StreamKind::Events,
            r#"[{"user_id":"u1","event":"e","event_id":"x","timestamp":"2024-01-02T03:04:05.5Z","properties":{"a":[1,2.5,null],"b":{"c":"d"}},"ai_data":{"model":"m","input":"i","output":"o","convo_id":"c"},"attachments":[{"type":"code","value":"v","name":null,"role":"input","language":"py"}]}]"#,
        ),
        (
            StreamKind::Signals,
            r#"[{"event_id":"e1","signal_name":"thumbs_up","sentiment":"POSITIVE","signal_type":"feedback","attachment_id":null,"properties":{"k":"v"}}]"#,
        ),
        (
            StreamKind::Users,
            r#"[{"user_id":"u1","traits":{"name":"J\u00e9","age":30,"tags":["a","b"]}}]"#,
        ),
        (
            StreamKind::PartialEvents,
            r#"{"event_id":"e1","ai_data":{"output":"x"},"properties":{"step":2},"is_pending":false}"#,
        ),
        (StreamKind::Events, DOC_EVENT),
    ];
    let garbage: [&[u8]; 16] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b"\\",
        b",",
        b":",
        b"null",
        b"-1e999",
        b"\xff",
        b"\xe2\x82",
        b"\\ud800",
        b"\x00",
        b"[[[[[[[[",
        b"18446744073709551616",
    ];
    // A small item limit too, so truncation and 413 paths get mutated input.
    let tight = small_limits(200);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    let mut runs = 0usize;
    let mut check = |kind: StreamKind, body: &[u8], runs: &mut usize| {
        for lim in [limits(kind), tight.clone()] {
            *runs += 1;
            if let Err(f) = check_never_panics(kind, &lim, body) {
                failures.push(f);
            }
        }
    };
    for (kind, seed) in seeds {
        let seed = seed.as_bytes();
        check(kind, seed, &mut runs);
        // Truncation at every position of the short seeds.
        if seed.len() < 400 {
            for cut in 0..seed.len() {
                check(kind, &seed[..cut], &mut runs);
            }
        }
        for _ in 0..150 {
            // Byte flips.
            let mut b = seed.to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
            check(kind, &b, &mut runs);
            // Random bytes.
            let mut b = seed.to_vec();
            let at = rng.below(b.len());
            b[at] = rng.next() as u8;
            check(kind, &b, &mut runs);
            // Inserted garbage.
            let mut b = seed.to_vec();
            let at = rng.below(b.len() + 1);
            let g = garbage[rng.below(garbage.len())];
            b.splice(at..at, g.iter().copied());
            check(kind, &b, &mut runs);
            // The same seed under another endpoint.
            let other = StreamKind::JSON[rng.below(StreamKind::JSON.len())];
            check(other, &b, &mut runs);
        }
    }
    assert!(runs >= 2000, "only {runs} runs");
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed; first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}
