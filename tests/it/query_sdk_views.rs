//! The official Query API client, `@raindrop-ai/query` 0.1.13, unmodified,
//! on every operation beyond the events list (`query_sdk.rs`):
//! `events.search`, `events.timeseries`, `events.facets`, signals and
//! signal groups, users, conversations and `traces.list`, over data
//! ingested through the edge (events, signals, identifies, OTLP spans), with
//! a second org's identical ids and names never showing.

use downpour::registry::keys::Role;
use serde_json::{Value, json};

use crate::common::Harness;
use crate::js_clients::run_node;

/// A minute and an hour, in milliseconds.
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// Epoch milliseconds as the SDK prints a date (`toISOString`).
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One OTLP/JSON span: hex ids, times in nanoseconds, `attributes` as
/// `[key, AnyValue]` pairs.
fn otlp_span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    (start_ns, end_ns): (u64, u64),
    attributes: &[(&str, Value)],
    status: Value,
) -> Value {
    let attributes: Vec<Value> = attributes
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    json!({"traceId": trace, "spanId": id, "parentSpanId": parent.unwrap_or(""), "name": name,
           "kind": 1, "startTimeUnixNano": start_ns.to_string(),
           "endTimeUnixNano": end_ns.to_string(), "attributes": attributes, "status": status})
}

/// The second suite of `tests/clients/query_sdk.mjs`: `events.search`
/// (text, regex, the fields searched, filters, paging; semantic, a bad regex
/// and an empty query refused), `events.timeseries` (exact hour buckets,
/// empty ones included; days; too many buckets refused), `events.facets`,
/// signals and signal groups (definitions built from the instances sent),
/// users (events and identifies), conversations, and the spans of an
/// event's traces. A second org sends the same ids and names plus its own
/// (a user, a conversation, a signal and its group, a span in the same
/// trace): none of it shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_sdk_searches_and_reads_signals_users_conversations_and_traces() {
    let h = Harness::start("query_views").await;
    let (org, leak) = ("qb-org", "qb-other");
    let member = h.key(org, None, Role::Member).await;
    let write = h.write_key(org).await;
    let other = h.write_key(leak).await;
    for o in [org, leak] {
        let owner = h.key(o, None, Role::Owner).await;
        let r = h
            .call(
                "POST",
                "/v1/projects",
                &owner,
                Some(json!({"slug": "insights"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // An hour boundary five hours ago: the hour buckets below are exact.
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = now / HOUR * HOUR - 5 * HOUR;
    let at = |offset: i64| iso(t0 + offset);
    let (m, hr) = (MINUTE, HOUR);

    let offsets = [
        10 * m,
        20 * m,
        hr + 5 * m,
        hr + 30 * m,
        3 * hr + 15 * m,
        3 * hr + 40 * m,
        4 * hr + m,
    ];
    let events = json!([
        {"event_id": "e1", "user_id": "alice", "event": "chat", "timestamp": at(offsets[0]),
         "ai_data": {"model": "gpt-x", "input": "How do I reset my PASSWORD?",
                     "output": "Use the reset link.", "convo_id": "cv1"}},
        {"event_id": "e2", "user_id": "alice", "event": "chat", "timestamp": at(offsets[1]),
         "ai_data": {"input": "thanks", "output": "Your password manager can help.", "convo_id": "cv1"}},
        {"event_id": "e3", "user_id": "bob", "event": "search", "timestamp": at(offsets[2]),
         "ai_data": {"input": "weather today", "output": "sunny", "convo_id": "cv2"}},
        {"event_id": "e4", "user_id": "bob", "event": "search", "timestamp": at(offsets[3]),
         "ai_data": {"input": "weather tomorrow", "output": "rain", "convo_id": "cv2"}},
        {"event_id": "e5", "user_id": "bob", "event": "chat", "timestamp": at(offsets[4]),
         "ai_data": {"input": "order #1234 status",
                     "output": "Shipped. Anything else I can help with?", "convo_id": "cv4"}},
        {"event_id": "e6", "user_id": "carol", "event": "chat", "timestamp": at(offsets[5]),
         "ai_data": {"input": "error code E-42", "output": "Restart the app; that should help.",
                     "convo_id": "cv2"}},
        {"event_id": "e7", "user_id": "carol", "event": "ping", "timestamp": at(offsets[6])}
    ]);
    let signals = json!([
        {"event_id": "e1", "signal_name": "thumbs_up", "signal_type": "feedback",
         "sentiment": "POSITIVE", "timestamp": at(11 * m)},
        {"event_id": "e2", "signal_name": "thumbs_up", "signal_type": "feedback",
         "timestamp": at(21 * m)},
        {"event_id": "e3", "signal_name": "copied", "signal_type": "edit",
         "sentiment": "POSITIVE", "timestamp": at(hr + 6 * m)},
        {"event_id": "e5", "signal_name": "thumbs_down", "signal_type": "feedback",
         "sentiment": "NEGATIVE", "timestamp": at(3 * hr + 16 * m)},
        {"event_id": "e5", "signal_name": "thumbs_down", "signal_type": "feedback",
         "sentiment": "NEGATIVE", "timestamp": at(3 * hr + 17 * m)},
        {"event_id": "e6", "signal_name": "regenerate", "timestamp": at(3 * hr + 41 * m)}
    ]);
    let identify = json!([
        {"user_id": "alice", "traits": {"plan": "free"}, "timestamp": at(12 * m)},
        {"user_id": "carol", "traits": {"plan": "pro"}, "timestamp": at(4 * hr + 10 * m)},
        {"user_id": "dave", "traits": {"plan": "free"}, "timestamp": at(2 * hr)}
    ]);
    // Alice's second identify, received later: her traits.
    let reidentify =
        json!({"user_id": "alice", "traits": {"plan": "pro", "seats": 3}, "timestamp": at(15 * m)});

    // One trace holding the span linked to e1 (a model call), a tool call
    // under it and a plain span; another trace linked to e2.
    let (trace_a, trace_b) = (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "0af7651916cd43dd8448eb211c80319c",
    );
    let s = u64::try_from(t0 + 10 * m).expect("ms") * 1_000_000;
    let ms_ns = 1_000_000;
    let text = |v: &str| json!({"stringValue": v});
    let int = |v: i64| json!({"intValue": v.to_string()});
    let link = |e: &str| ("traceloop.association.properties.event_id", text(e));
    let prompt = "How do I reset my password?";
    let spans = vec![
        otlp_span(
            trace_a,
            "00000000000000a1",
            None,
            "chat gpt-x",
            (s, s + 2000 * ms_ns),
            &[
                link("e1"),
                ("gen_ai.request.model", text("gpt-x")),
                ("gen_ai.system", text("openai")),
                ("gen_ai.prompt", text(prompt)),
                ("gen_ai.completion", text("Use the reset link.")),
                ("gen_ai.usage.input_tokens", int(42)),
                ("gen_ai.usage.output_tokens", int(7)),
            ],
            json!({"code": 1}),
        ),
        otlp_span(
            trace_a,
            "00000000000000a2",
            Some("00000000000000a1"),
            "lookup",
            (s + 500 * ms_ns, s + 1500 * ms_ns),
            &[
                ("ai.toolCall.name", text("lookup")),
                ("ai.toolCall.args", text(r#"{"q":"reset"}"#)),
                ("ai.toolCall.result", text("found")),
            ],
            json!({"code": 2, "message": "boom"}),
        ),
        otlp_span(
            trace_a,
            "00000000000000a3",
            Some("00000000000000a1"),
            "post-process",
            (s + 1600 * ms_ns, s + 1900 * ms_ns),
            &[
                ("flag", json!({"boolValue": true})),
                (
                    "tags",
                    json!({"arrayValue": {"values": [{"stringValue": "x"}, {"stringValue": "y"}]}}),
                ),
                ("retries", int(2)),
                ("score", json!({"doubleValue": 0.5})),
            ],
            json!({}),
        ),
        otlp_span(
            trace_b,
            "00000000000000b1",
            None,
            "other",
            (s + 60_000 * ms_ns, s + 61_000 * ms_ns),
            &[link("e2")],
            json!({"code": 1}),
        ),
    ];
    let export = |spans: &[Value]| {
        json!({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "agent"}}]},
            "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]})
        .to_string()
    };

    // The other org: the same, and its own user, conversation, signal (of
    // its own group) and a span in the same trace, linked to e1.
    let mut leak_events = events.clone();
    leak_events.as_array_mut().expect("array").push(json!(
        {"event_id": "e9", "user_id": "mallory", "event": "chat", "timestamp": at(10 * m),
         "ai_data": {"input": "password help", "output": "PASSWORD help", "convo_id": "cv-leak"}}));
    let mut leak_signals = signals.clone();
    leak_signals.as_array_mut().expect("array").push(json!(
        {"event_id": "e1", "signal_name": "leaked", "signal_type": "agent",
         "sentiment": "NEGATIVE", "timestamp": at(5 * m)}));
    let mut leak_identify = identify.clone();
    leak_identify.as_array_mut().expect("array").push(
        json!({"user_id": "mallory", "traits": {"plan": "pro", "seats": 9}, "timestamp": at(4 * hr + 20 * m)}),
    );
    let mut leak_spans = spans.clone();
    leak_spans.push(otlp_span(
        trace_a,
        "00000000000000ff",
        Some("00000000000000a1"),
        "leaked",
        (s + 1700 * ms_ns, s + 1800 * ms_ns),
        &[link("e1"), ("gen_ai.request.model", text("leak"))],
        json!({"code": 1}),
    ));

    for (key, events, signals, identify, spans) in [
        (&write, &events, &signals, &identify, &spans),
        (
            &other,
            &leak_events,
            &leak_signals,
            &leak_identify,
            &leak_spans,
        ),
    ] {
        for (path, body) in [
            ("/v1/events/track", events.to_string()),
            ("/v1/signals/track", signals.to_string()),
            ("/v1/users/identify", identify.to_string()),
            ("/v1/users/identify", reidentify.to_string()),
        ] {
            let r = h.post(path, Some(key), Some("insights"), &body).await;
            assert_eq!(r.status, 204, "{path}: {}", r.body);
        }
        let r = h
            .post("/v1/traces", Some(key), Some("insights"), &export(spans))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Alice's first identify may be merged away: count the rows that stay.
    let users =
        "SELECT count() FROM users WHERE org = ? AND (user_id != 'alice' OR traits LIKE '%seats%')";
    for (o, n) in [(org, 0), (leak, 1)] {
        for (sql, want) in [
            ("SELECT count() FROM events_by_user WHERE org = ?", 7),
            ("SELECT count() FROM signals WHERE org = ?", 6),
            (users, 3),
            ("SELECT count() FROM spans WHERE org = ?", 4),
        ] {
            assert_eq!(h.wait_count(sql, o, want + n).await, want + n, "{o}: {sql}");
        }
    }

    let env = [
        ("DOWNPOUR_BASE", h.base.clone()),
        ("DOWNPOUR_KEY", member.clone()),
        ("DOWNPOUR_PROJECT", "insights".to_string()),
        ("DOWNPOUR_T0", t0.to_string()),
        ("DOWNPOUR_SUITE", "views".to_string()),
    ];
    let r = run_node(&h, "query_sdk.mjs", &env).await;

    // events.search: newest first; text is case-insensitive over the fields
    // of search_in (both AI fields by default), regex is RE2 and case-sensitive.
    let q = &r["searched"];
    for (name, want) in [
        ("text", json!(["e2", "e1"])),
        ("textMode", json!(["e2", "e1"])),
        ("inInput", json!(["e1"])),
        ("inOutput", json!(["e2"])),
        ("inName", json!(["e7"])),
        ("help", json!(["e6", "e5", "e2"])),
        ("byUser", json!(["e5"])),
        ("byConvo", json!(["e2"])),
        ("bySignal", json!(["e6"])),
        ("since", json!(["e6", "e5"])),
        ("before", json!(["e2"])),
        ("regex", json!(["e5"])),
        ("regexCase", json!([])),
        ("regexNoCase", json!(["e2", "e1"])),
        ("regexAnchor", json!(["e4", "e3"])),
        (
            "pages",
            json!({"ids": [["e6"], ["e5"], ["e2"]], "hasMore": [true, true, false]}),
        ),
        (
            "signalsOfHit",
            json!([{"id": "thumbs_down", "name": "thumbs_down"}]),
        ),
    ] {
        assert_eq!(q[name], want, "search {name}: {q}");
    }
    let e = &r["searchErrors"];
    assert_eq!(
        (&e["semantic"]["name"], &e["semantic"]["status"]),
        (&json!("EventsSearchBadRequestError"), &json!(400)),
        "{e}"
    );
    assert_eq!(e["semantic"]["field"], "mode", "{e}");
    assert_eq!(
        e["semantic"]["allowedFields"],
        json!(["text", "regex"]),
        "{e}"
    );
    assert_eq!(
        (&e["badRegex"]["name"], &e["badRegex"]["status"]),
        (&json!("EventsSearchBadRequestError"), &json!(400)),
        "{e}"
    );
    assert_eq!(e["badRegex"]["field"], "query", "{e}");
    assert_eq!(
        (&e["empty"]["name"], &e["empty"]["status"]),
        (&json!("EventsSearchBadRequestError"), &json!(400)),
        "{e}"
    );

    // events.timeseries: contiguous UTC buckets, the empty ones as 0, from
    // the bound's bucket (else the first event's) to the bound's (else the last's).
    let buckets = |first: i64, counts: &[u64]| -> Value {
        counts
            .iter()
            .zip(0..)
            .map(|(n, i)| json!({"timestamp": at(first + i * hr), "count": n}))
            .collect()
    };
    let ts = &r["timeseries"];
    assert_eq!(
        ts["hour"],
        json!({"buckets": buckets(-hr, &[0, 2, 2, 0, 2, 1]), "total": 7, "interval": "hour"}),
        "{ts}"
    );
    assert_eq!(
        ts["bobHour"],
        json!({"buckets": buckets(0, &[0, 2, 0, 1]), "total": 3, "interval": "hour"}),
        "{ts}"
    );
    assert_eq!(
        ts["feedbackHour"],
        json!({"buckets": buckets(0, &[2, 0, 0, 1]), "total": 3, "interval": "hour"}),
        "{ts}"
    );
    let day = 24 * hr;
    let days: Vec<i64> = offsets.iter().map(|o| (t0 + o) / day * day).collect();
    let (first, last) = (days[0], days[days.len() - 1]);
    let day_buckets: Vec<Value> = (0..=(last - first) / day)
        .map(|i| {
            let d = first + i * day;
            json!({"timestamp": iso(d), "count": days.iter().filter(|x| **x == d).count()})
        })
        .collect();
    assert_eq!(
        ts["day"],
        json!({"buckets": day_buckets, "total": 7, "interval": "day"}),
        "{ts}"
    );
    assert_eq!(
        ts["none"],
        json!({"buckets": [], "total": 0, "interval": "day"}),
        "{ts}"
    );
    let e = &r["tooManyBuckets"];
    assert_eq!(
        (&e["name"], &e["status"], &e["field"]),
        (
            &json!("EventsTimeseriesBadRequestError"),
            &json!(400),
            &json!("interval")
        ),
        "{e}"
    );

    // events.facets: count desc, then value; distinct count_by.
    let facet = |pairs: &[(&str, u64)]| -> Value {
        pairs
            .iter()
            .map(|(v, n)| json!({"value": v, "count": n}))
            .collect()
    };
    let f = &r["facets"];
    for (name, want) in [
        (
            "eventName",
            facet(&[("chat", 4), ("search", 2), ("ping", 1)]),
        ),
        ("eventNameTop2", facet(&[("chat", 4), ("search", 2)])),
        (
            "eventNameByUser",
            facet(&[("chat", 3), ("ping", 1), ("search", 1)]),
        ),
        ("eventNameOfAlice", facet(&[("chat", 2)])),
        ("eventNameWindow", facet(&[("search", 2), ("chat", 1)])),
        ("eventNameFeedback", facet(&[("chat", 3)])),
        ("userId", facet(&[("bob", 3), ("alice", 2), ("carol", 2)])),
        (
            "userIdByConvo",
            facet(&[("bob", 2), ("alice", 1), ("carol", 1)]),
        ),
        (
            "signal",
            facet(&[
                ("thumbs_up", 2),
                ("copied", 1),
                ("regenerate", 1),
                ("thumbs_down", 1),
            ]),
        ),
        ("signalOfBob", facet(&[("copied", 1), ("thumbs_down", 1)])),
    ] {
        assert_eq!(f[name], want, "facets {name}: {f}");
    }

    // Signal definitions: one per name; created_at = its first instance,
    // group = its type, sentiment = the latest one sent (NEUTRAL when none).
    let signal = |name: &str, created: i64, group: &str, sentiment: &str| {
        json!({"id": name, "type": "instrumented", "name": name, "description": null,
               "createdAt": at(created), "groupId": group, "groupName": group,
               "sentiment": sentiment})
    };
    let regenerate = signal("regenerate", 3 * hr + 41 * m, "default", "NEUTRAL");
    let thumbs_down = signal("thumbs_down", 3 * hr + 16 * m, "feedback", "NEGATIVE");
    let copied = signal("copied", hr + 6 * m, "edit", "POSITIVE");
    let thumbs_up = signal("thumbs_up", 11 * m, "feedback", "POSITIVE");
    assert_eq!(
        r["signalsPages"],
        json!({"ids": [["regenerate", "thumbs_down"], ["copied", "thumbs_up"]],
               "hasMore": [true, false]}),
        "{r}"
    );
    assert_eq!(
        r["signalsAll"],
        json!([regenerate, thumbs_down, copied, thumbs_up]),
        "{r}"
    );
    assert_eq!(
        r["signalsOldest"],
        json!(["thumbs_up", "copied", "thumbs_down", "regenerate"]),
        "{r}"
    );
    assert_eq!(r["signalOne"], thumbs_up, "{r}");
    assert_eq!(
        (&r["signalMissing"]["name"], &r["signalMissing"]["status"]),
        (&json!("SignalsGetNotFoundError"), &json!(404)),
        "the other org's signal: {r}"
    );
    // Signal groups: the signal types.
    let group = |id: &str, created: i64, updated: i64, count: u64| {
        json!({"id": id, "name": id, "description": null, "orgId": org,
               "createdAt": at(created), "updatedAt": at(updated), "signalCount": count})
    };
    let feedback = group("feedback", 11 * m, 3 * hr + 17 * m, 2);
    assert_eq!(
        r["groupsPages"],
        json!({"ids": [["default", "edit"], ["feedback"]], "hasMore": [true, false]}),
        "{r}"
    );
    assert_eq!(
        r["groupsAll"],
        json!([
            group("default", 3 * hr + 41 * m, 3 * hr + 41 * m, 1),
            group("edit", hr + 6 * m, hr + 6 * m, 1),
            feedback,
        ]),
        "{r}"
    );
    assert_eq!(r["groupOne"], feedback, "{r}");
    assert_eq!(r["groupSignals"], json!([thumbs_down, thumbs_up]), "{r}");
    assert_eq!(
        r["groupSignalsPages"],
        json!({"ids": [["thumbs_down"], ["thumbs_up"]], "hasMore": [true, false]}),
        "{r}"
    );
    for (name, class) in [
        ("groupMissing", "SignalGroupsGetNotFoundError"),
        (
            "groupSignalsMissing",
            "SignalGroupsListSignalsNotFoundError",
        ),
    ] {
        assert_eq!(
            (&r[name]["name"], &r[name]["status"]),
            (&json!(class), &json!(404)),
            "the other org's group: {r}"
        );
    }
    assert_eq!(
        r["byGroup"],
        json!({"feedback": ["e5", "e2", "e1"], "edit": ["e3"], "feedbackCount": 3}),
        "{r}"
    );
    // An event's signals: once per name, the id is the name.
    assert_eq!(
        r["eventSignals"],
        json!({"e1": [{"id": "thumbs_up", "name": "thumbs_up"}],
               "e5": [{"id": "thumbs_down", "name": "thumbs_down"}], "e7": []}),
        "{r}"
    );

    // Users: from events and identifies, by last_seen.
    let user = |id: &str, traits: Value, first: i64, last: i64, count: u64| {
        json!({"id": id, "traits": traits, "firstSeen": at(first), "lastSeen": at(last),
               "eventCount": count})
    };
    let alice = user(
        "alice",
        json!({"plan": "pro", "seats": 3}),
        10 * m,
        20 * m,
        2,
    );
    let bob = user("bob", Value::Null, hr + 5 * m, 3 * hr + 15 * m, 3);
    let dave = user("dave", json!({"plan": "free"}), 2 * hr, 2 * hr, 0);
    let u = &r["users"];
    assert_eq!(
        u["pages"],
        json!({"ids": [["carol", "bob", "dave"], ["alice"]], "hasMore": [true, false]}),
        "{u}"
    );
    assert_eq!(
        u["all"],
        json!([
            user(
                "carol",
                json!({"plan": "pro"}),
                3 * hr + 40 * m,
                4 * hr + 10 * m,
                2
            ),
            bob,
            dave,
            alice
        ]),
        "{u}"
    );
    for (name, want) in [
        ("oldest", json!(["alice", "dave", "bob", "carol"])),
        ("bob", json!(["bob"])),
        ("startsWithCa", json!(["carol"])),
        ("pro", json!(["carol", "alice"])),
        ("free", json!(["dave"])),
        ("seats", json!(["alice"])),
        ("firstSeenSince", json!(["carol", "bob", "dave"])),
        ("lastSeenBefore", json!(["dave", "alice"])),
        ("between", json!(["bob", "dave"])),
        ("alice", alice),
        ("bobOne", bob),
        ("dave", dave),
    ] {
        assert_eq!(u[name], want, "users {name}: {u}");
    }
    assert_eq!(
        (&u["missing"]["name"], &u["missing"]["status"]),
        (&json!("UsersGetNotFoundError"), &json!(404)),
        "the other org's user: {u}"
    );

    // Conversations: by convo_id, the user of the first event, signal
    // instances counted per name.
    let convo = |id: &str, user: &str, started: i64, last: i64, n: u64, signals: &[(&str, u64)]| {
        let signals: Vec<Value> = signals
            .iter()
            .map(|(s, c)| json!({"id": s, "name": s, "count": c}))
            .collect();
        json!({"id": id, "userId": user, "startedAt": at(started), "lastMessageAt": at(last),
               "messageCount": n, "signals": signals})
    };
    let cv2 = convo(
        "cv2",
        "bob",
        hr + 5 * m,
        3 * hr + 40 * m,
        3,
        &[("copied", 1), ("regenerate", 1)],
    );
    let cv4 = convo(
        "cv4",
        "bob",
        3 * hr + 15 * m,
        3 * hr + 15 * m,
        1,
        &[("thumbs_down", 2)],
    );
    let c = &r["conversations"];
    assert_eq!(
        c["pages"],
        json!({"ids": [["cv2", "cv4"], ["cv1"]], "hasMore": [true, false]}),
        "{c}"
    );
    assert_eq!(
        c["all"],
        json!([
            cv2,
            cv4,
            convo("cv1", "alice", 10 * m, 20 * m, 2, &[("thumbs_up", 2)])
        ]),
        "{c}"
    );
    for (name, want) in [
        ("oldest", json!(["cv1", "cv4", "cv2"])),
        ("alice", json!(["cv1"])),
        ("bob", json!(["cv2", "cv4"])),
        ("startedSince", json!(["cv2", "cv4"])),
        ("startedBefore", json!(["cv1"])),
        ("cv2", cv2),
        ("cv4", cv4),
    ] {
        assert_eq!(c[name], want, "conversations {name}: {c}");
    }
    assert_eq!(
        (&c["missing"]["name"], &c["missing"]["status"]),
        (&json!("ConversationsGetNotFoundError"), &json!(404)),
        "the other org's conversation: {c}"
    );

    // Traces: every span of the traces holding a span linked to the event,
    // oldest first; the other trace and the other org's span are absent.
    let a1 = json!({"traceId": trace_a, "spanId": "00000000000000a1", "parentSpanId": null,
        "spanName": "chat gpt-x", "spanType": "LLM_GENERATION", "status": "OK",
        "startTimeNs": s, "endTimeNs": s + 2000 * ms_ns, "durationNs": 2000 * ms_ns,
        "input": prompt, "output": "Use the reset link.", "inputTokens": 42, "outputTokens": 7,
        "model": "gpt-x", "provider": "openai",
        "attributes": {"traceloop.association.properties.event_id": "e1",
            "gen_ai.request.model": "gpt-x", "gen_ai.system": "openai", "gen_ai.prompt": prompt,
            "gen_ai.completion": "Use the reset link.", "gen_ai.usage.input_tokens": 42,
            "gen_ai.usage.output_tokens": 7}});
    let a2 = json!({"traceId": trace_a, "spanId": "00000000000000a2",
        "parentSpanId": "00000000000000a1", "spanName": "lookup", "spanType": "TOOL_CALL",
        "status": "ERROR", "startTimeNs": s + 500 * ms_ns, "endTimeNs": s + 1500 * ms_ns,
        "durationNs": 1000 * ms_ns, "input": r#"{"q":"reset"}"#, "output": "found",
        "inputTokens": null, "outputTokens": null, "model": null, "provider": null,
        "attributes": {"ai.toolCall.name": "lookup", "ai.toolCall.args": r#"{"q":"reset"}"#,
            "ai.toolCall.result": "found"}});
    let a3 = json!({"traceId": trace_a, "spanId": "00000000000000a3",
        "parentSpanId": "00000000000000a1", "spanName": "post-process", "spanType": "INTERNAL",
        "status": "UNSET", "startTimeNs": s + 1600 * ms_ns, "endTimeNs": s + 1900 * ms_ns,
        "durationNs": 300 * ms_ns, "input": null, "output": null, "inputTokens": null,
        "outputTokens": null, "model": null, "provider": null,
        "attributes": {"flag": "true", "tags": r#"["x","y"]"#, "retries": 2, "score": 0.5}});
    let t = &r["traces"];
    assert_eq!(t["e1"], json!([a1, a2, a3]), "{t}");
    assert_eq!(
        t["e1Cut"],
        json!([["How d", "Use t"], [r#"{"q":"#, "found"], [null, null]]),
        "trunc_len 5: {t}"
    );
    assert_eq!(
        t["e1Two"],
        json!(["00000000000000a1", "00000000000000a2"]),
        "{t}"
    );
    assert_eq!(t["e2"], json!(["00000000000000b1"]), "{t}");
    assert_eq!(t["e5"], json!([]), "{t}");
    assert_eq!(t["noEvent"], 400, "{t}");
    h.stop().await;
}
