//! What each detector finds and leaves, rules, JSON values and
//! conversations.

use super::*;

fn all() -> Redactor {
    Redactor::new(&Detector::ALL, &[]).expect("compiles")
}

#[test]
fn each_detector_finds_its_kind() {
    let r = all();
    for (text, want) in [
        (
            "mail me at jane.doe+x@example.co.uk now",
            "mail me at [REDACTED:email] now",
        ),
        ("card 4111 1111 1111 1111 ok", "card [REDACTED:card] ok"),
        ("card 4111-1111-1111-1111", "card [REDACTED:card]"),
        ("iban GB82 WEST 1234 5698 7654 32.", "iban [REDACTED:iban]."),
        ("iban DE89370400440532013000", "iban [REDACTED:iban]"),
        ("from 192.168.1.20 today", "from [REDACTED:ip] today"),
        ("v6 2001:db8:85a3::8a2e:370:7334 x", "v6 [REDACTED:ip] x"),
        (
            "v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "v6 [REDACTED:ip]",
        ),
        (
            "call +1 415 555 2671 please",
            "call [REDACTED:phone] please",
        ),
        ("call (415) 555-2671", "call [REDACTED:phone]"),
        ("call 415-555-2671", "call [REDACTED:phone]"),
        ("appelle 06 12 34 56 78", "appelle [REDACTED:phone]"),
        ("key sk-proj-abcdefghijklmnopqrstuv", "key [REDACTED:token]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED:token]"),
        (
            "gh ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "gh [REDACTED:token]",
        ),
        (
            "Authorization: Bearer abcdefghijklmnop0123",
            "Authorization: [REDACTED:token]",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpM",
            "jwt [REDACTED:token]",
        ),
    ] {
        assert_eq!(r.redact(text), want, "{text}");
    }
}

#[test]
fn ordinary_text_is_left_alone_and_borrowed() {
    let r = all();
    for text in [
        "How do I reset my password? It has been 3 days.",
        "order 12345678 shipped on 2026-12-07 at 10:30",
        "version 1.2.3 of the app, build 4111",
        "card 4111 1111 1111 1112 fails Luhn",
        "iban GB82 WEST 1234 5698 7654 33 fails mod 97",
        "ratio 3:2, time 12:30:45",
        "a@b",
        "",
        "naïve café ✓ 東京",
    ] {
        assert!(matches!(r.redact(text), Cow::Borrowed(_)), "{text}");
    }
}

#[test]
fn only_the_detectors_on_run_then_the_rules() {
    let rules = [Rule {
        name: "ticket".into(),
        pattern: r"TCK-[0-9]{4}".into(),
    }];
    let r = Redactor::new(&[Detector::Email], &rules).expect("compiles");
    assert_eq!(
        r.redact("jane@example.com from 10.0.0.1 about TCK-1234"),
        "[REDACTED:email] from 10.0.0.1 about [REDACTED:ticket]"
    );
    assert!(Redactor::none().is_empty());
    assert_eq!(
        Redactor::none().redact("jane@example.com"),
        "jane@example.com"
    );
}

#[test]
fn a_bad_rule_is_named() {
    let rules = [
        Rule {
            name: "ok".into(),
            pattern: "a+".into(),
        },
        Rule {
            name: "bad".into(),
            pattern: "(unclosed".into(),
        },
    ];
    let e = Redactor::new(&[], &rules).expect_err("refused");
    assert_eq!(e.index, 1);
    assert!(e.to_string().starts_with("rules[1].pattern: "), "{e}");
    let huge = Rule {
        name: "huge".into(),
        pattern: "[a-z]{1000}{1000}".into(),
    };
    assert!(Redactor::new(&[], &[huge]).is_err(), "over the size limit");
}

#[test]
fn json_values_are_redacted_and_keys_and_layout_kept() {
    let r = all();
    let json = r#"{"email": "jane@example.com", "n": 1, "nested": {"ip": ["10.0.0.1", "x"]}, "q": "say \"hi\" to bob@example.org"}"#;
    let out = r.redact_json(json).expect("changed");
    assert_eq!(
        out,
        r#"{"email": "[REDACTED:email]", "n": 1, "nested": {"ip": ["[REDACTED:ip]", "x"]}, "q": "say \"hi\" to [REDACTED:email]"}"#
    );
    let _: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    // A key is a name, not content.
    assert_eq!(r.redact_json(r#"{"jane@example.com": 1}"#), None);
    assert_eq!(r.redact_json(r#"{"a": "plain"}"#), None);
}

#[test]
fn a_conversation_is_redacted_whole_or_in_its_last_turn() {
    let r = all();
    let convo = r#"[{"role": "user", "content": "I am jane@example.com"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "call 415-555-2671"}]"#;
    assert_eq!(
        r.redact_input(convo, true),
        r#"[{"role": "user", "content": "I am [REDACTED:email]"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "call [REDACTED:phone]"}]"#
    );
    assert_eq!(
        r.redact_input(convo, false),
        r#"[{"role": "user", "content": "I am jane@example.com"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "call [REDACTED:phone]"}]"#
    );
    // Only earlier turns hold something: kept as sent.
    let earlier = r#"[{"role": "user", "content": "jane@example.com"}, {"role": "user", "content": "thanks"}]"#;
    assert!(matches!(r.redact_input(earlier, false), Cow::Borrowed(_)));
    // Not a conversation: all of it, whatever the setting.
    assert_eq!(
        r.redact_input("write to jane@example.com", false),
        "write to [REDACTED:email]"
    );
}

#[test]
fn an_escape_hides_nothing_and_a_finding_eats_no_escape() {
    let r = all();
    let json =
        r#"{"note":"keys:\nsk-proj-abcdefghijklmnopqrstuv","c":"Card:\t4111 1111 1111 1111"}"#;
    let out = r.redact_json(json).expect("changed");
    let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(v["note"], "keys:\n[REDACTED:token]");
    assert_eq!(v["c"], "Card:\t[REDACTED:card]");
    let convo = r#"[{"role": "user", "content": "hi\njane@example.com"}]"#;
    let out = r.redact_input(convo, true);
    let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(v[0]["content"], "hi\n[REDACTED:email]");
}

#[test]
fn a_card_or_iban_next_to_other_digits_or_words_is_still_found() {
    let r = all();
    for (text, want) in [
        (
            "card 4111 1111 1111 1111 12/26 cvv 123",
            "card [REDACTED:card] 12/26 cvv 123",
        ),
        ("4111111111111111 123", "[REDACTED:card] 123"),
        ("ES91 2100 0418 4502 0005 1332 EUR", "[REDACTED:iban] EUR"),
        ("PL61 1090 1014 0000 0712 1981 2874", "[REDACTED:iban]"),
    ] {
        assert_eq!(r.redact(text), want, "{text}");
    }
}

#[test]
fn look_alikes_are_left_alone() {
    let r = all();
    for text in [
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36",
        "<img src=\"logo@2x.png\">",
        "price +100.00 today",
        "semver 1.0.0+20130313144700",
        "use crate::db::Pool;",
        "ts 1765101600002 ms",
        "a::b and fe::ed",
    ] {
        assert!(matches!(r.redact(text), Cow::Borrowed(_)), "{text}");
    }
}

#[test]
fn rules_see_short_values_and_may_not_match_empty_text() {
    let rules = [Rule {
        name: "pin".into(),
        pattern: "^[0-9]{4}$".into(),
    }];
    let r = Redactor::new(&Detector::ALL, &rules).expect("compiles");
    assert_eq!(r.redact("1234"), "[REDACTED:pin]");
    assert_eq!(
        r.redact_json(r#"{"pin":"1234"}"#).as_deref(),
        Some(r#"{"pin":"[REDACTED:pin]"}"#)
    );
    for empty in ["x*", "a?", "(?:)", "^"] {
        assert!(compile_rule(empty).is_err(), "{empty}");
    }
}
