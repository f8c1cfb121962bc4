//! Request bodies: a pool of SDK-shaped requests generated before the clock
//! starts, so building JSON costs no client CPU during the run.
//!
//! The shapes follow what the Raindrop Python SDK (`raindrop-ai`) posts:
//! `events/track` and `signals/track` take arrays, `users/identify` an array
//! of one, `events/track_partial` a single object (a begin patch with
//! `is_pending: true`, then a finishing patch with the output and
//! `is_pending: false`).
//!
//! Ids: every `event_id` in the pool is a UUID-shaped string whose first 15
//! hex digits are a *tag* left as zeros here. A worker copies a body before
//! sending it and writes its tag into those digits ([`patch_ids`]): the tag
//! is unique per run, worker and pass over the pool, so replaying a body
//! still sends fresh event ids and ClickHouse does not collapse replays.
//! Signals reference event ids from earlier in the pool with the same tag,
//! i.e. events this worker sent earlier in the same pass (except just after
//! the point where a worker started, where the referenced event comes at
//! the end of the pass).

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// Length of an event id (a hyphenated UUID).
pub const ID_LEN: usize = 36;

/// How an id looks before its tag is written: zeros where the tag goes.
const ID_PLACEHOLDER: &[u8] = b"\"00000000-0000-4000-";

/// Share of requests that send no `X-Raindrop-Project-Id` (→ `default`).
pub const NO_PROJECT_SHARE: f64 = 0.3;

/// Zipf exponent of the project distribution: project 0 gets the most traffic.
const ZIPF_EXPONENT: f64 = 1.1;

/// The pool stops growing at this many entries...
const MAX_ENTRIES: usize = 4096;
/// ... or at this many body bytes, whichever comes first.
const MAX_POOL_BYTES: usize = 32 * 1024 * 1024;
/// The pool has at least this many entries (unless the first ones are huge).
const MIN_ENTRIES: usize = 64;

/// An ingest route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/events/track`.
    Events,
    /// `POST /v1/signals/track`.
    Signals,
    /// `POST /v1/users/identify`.
    Identify,
    /// `POST /v1/events/track_partial`.
    Partial,
    /// `POST /v1/traces` (OTLP protobuf).
    Traces,
}

/// How many routes there are.
pub const ROUTES: usize = 5;

impl Route {
    /// Every route, in report order.
    pub const ALL: [Route; ROUTES] = [
        Route::Events,
        Route::Signals,
        Route::Identify,
        Route::Partial,
        Route::Traces,
    ];

    /// Path under the edge's base URL.
    pub fn path(self) -> &'static str {
        match self {
            Route::Events => "/v1/events/track",
            Route::Signals => "/v1/signals/track",
            Route::Identify => "/v1/users/identify",
            Route::Partial => "/v1/events/track_partial",
            Route::Traces => "/v1/traces",
        }
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Route::Events => "events",
            Route::Signals => "signals",
            Route::Identify => "identify",
            Route::Partial => "track_partial",
            Route::Traces => "traces",
        }
    }

    /// Position in [`Route::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Which traffic to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mix {
    /// Mixed SDK traffic: events/track batches of 1, 10 and 100 events
    /// (50/35/15 by request), signals, identify calls and partial events.
    Sdk,
    /// Only events/track, 100 events per request.
    Batch100,
    /// Only events/track, 1 event per request.
    Single,
    /// Only OTLP protobuf exports to /v1/traces, 50 spans per request
    /// (one trace of an AI SDK agent run: a root and 49 model and tool calls).
    Traces,
}

impl Mix {
    /// The name given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Sdk => "sdk",
            Mix::Batch100 => "batch100",
            Mix::Single => "single",
            Mix::Traces => "traces",
        }
    }

    /// The table whose new rows show what this mix stored.
    pub fn table(self) -> &'static str {
        match self {
            Mix::Traces => "spans",
            _ => "events",
        }
    }

    /// The route whose items land in [`Mix::table`].
    pub fn counted_route(self) -> Route {
        match self {
            Mix::Traces => Route::Traces,
            _ => Route::Events,
        }
    }
}

/// One HTTP request of an entry.
#[derive(Debug)]
pub struct Step {
    /// Where it goes.
    pub route: Route,
    /// Body (JSON, or OTLP protobuf for traces), ids with zero tags.
    pub body: Vec<u8>,
    /// Offsets in `body` of every event id (or trace id) to tag.
    pub id_slots: Vec<u32>,
    /// Items (events, signals, users, patches) in the body.
    pub items: u32,
}

/// One unit of work: a request, or the two patches of a partial event, sent
/// in order to one project with one tag.
#[derive(Debug)]
pub struct Entry {
    /// Index into [`Pool::projects`]; `None` sends no project header.
    pub project: Option<usize>,
    /// Requests, sent one after the other.
    pub steps: Vec<Step>,
}

/// The pre-generated requests.
#[derive(Debug)]
pub struct Pool {
    /// Entries in send order.
    pub entries: Vec<Entry>,
    /// Project slugs (`proj-0`, `proj-1`, ...).
    pub projects: Vec<String>,
    /// Total body bytes.
    pub bytes: usize,
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Traffic mix.
    pub mix: Mix,
    /// Approximate size of one event, bytes.
    pub event_bytes: usize,
    /// Number of project slugs.
    pub projects: usize,
    /// Share of requests sent to one more project, [`HOT_PROJECT`] (0: none).
    pub hot_share: f64,
}

/// The project `--hot-share` sends its share of the requests to.
pub const HOT_PROJECT: &str = "proj-hot";

/// Generates the pool. Deterministic for a given `rng` seed.
pub fn generate(spec: Spec, rng: &mut StdRng) -> anyhow::Result<Pool> {
    let mut projects: Vec<String> = (0..spec.projects).map(|i| format!("proj-{i}")).collect();
    let hot_share = spec.hot_share.clamp(0.0, 1.0);
    let hot = (hot_share > 0.0).then(|| {
        projects.push(HOT_PROJECT.to_string());
        projects.len() - 1
    });
    let others = projects.len() - usize::from(hot.is_some());
    let project_pick = if others == 0 {
        None
    } else {
        let weights = (0..others).map(|k| 1.0 / ((k + 1) as f64).powf(ZIPF_EXPONENT));
        Some(WeightedIndex::new(weights)?)
    };
    let mut g = Generator {
        rng,
        spec,
        recent_events: Vec::new(),
        users: 1000,
        convos: 0,
        traces_made: 0,
    };
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    while entries.len() < MAX_ENTRIES && (bytes < MAX_POOL_BYTES || entries.len() < MIN_ENTRIES) {
        let project = match (hot, &project_pick) {
            (Some(hot), _) if g.rng.random_bool(hot_share) => Some(hot),
            (_, Some(pick)) if !g.rng.random_bool(NO_PROJECT_SHARE) => Some(pick.sample(g.rng)),
            _ => None,
        };
        let steps = g.entry()?;
        bytes += steps.iter().map(|s| s.body.len()).sum::<usize>();
        entries.push(Entry { project, steps });
    }
    Ok(Pool {
        entries,
        projects,
        bytes,
    })
}

/// Writes `tag` into the first 8 bytes of every binary trace id at `slots`
/// (the traces mix: their protobuf bodies carry ids as bytes).
pub fn patch_trace_ids(body: &mut [u8], slots: &[u32], tag: u64) {
    for &slot in slots {
        let at = slot as usize;
        if let Some(id) = body.get_mut(at..at + 8) {
            id.copy_from_slice(&tag.to_be_bytes());
        }
    }
}

/// Writes `tag` into the ids of `step`'s body, as its route encodes them.
pub fn patch(step: &Step, body: &mut [u8], tag: u64) {
    match step.route {
        Route::Traces => patch_trace_ids(body, &step.id_slots, tag),
        _ => patch_ids(body, &step.id_slots, tag),
    }
}

/// Writes `tag` into the first 15 hex digits of every id at `slots`.
pub fn patch_ids(body: &mut [u8], slots: &[u32], tag: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 15];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX[((tag >> (4 * (14 - i))) & 0xf) as usize];
    }
    for &slot in slots {
        let start = slot as usize;
        let Some(id) = body.get_mut(start..start + ID_LEN) else {
            continue;
        };
        id[0..8].copy_from_slice(&digits[0..8]);
        id[9..13].copy_from_slice(&digits[8..12]);
        id[15..18].copy_from_slice(&digits[12..15]);
    }
}

struct Generator<'r> {
    rng: &'r mut StdRng,
    spec: Spec,
    /// Event ids generated so far (most recent last), for signals to reference.
    recent_events: Vec<String>,
    users: u32,
    convos: u64,
    /// Traces generated so far (the last 8 bytes of each trace id).
    traces_made: u64,
}

const EVENT_NAMES: [&str; 5] = [
    "chat_message",
    "agent_run",
    "code_generation",
    "search",
    "summarize",
];
const MODELS: [&str; 4] = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "o3-mini"];
const WORDS: [&str; 32] = [
    "the",
    "model",
    "answer",
    "question",
    "please",
    "summarize",
    "this",
    "document",
    "user",
    "asked",
    "about",
    "pricing",
    "plans",
    "and",
    "refund",
    "policy",
    "for",
    "enterprise",
    "customers",
    "in",
    "europe",
    "with",
    "a",
    "short",
    "friendly",
    "reply",
    "that",
    "cites",
    "sources",
    "code",
    "function",
    "error",
];

impl Generator<'_> {
    fn entry(&mut self) -> anyhow::Result<Vec<Step>> {
        match self.spec.mix {
            Mix::Single => Ok(vec![self.events(1, self.spec.event_bytes, 1.0)?]),
            Mix::Batch100 => Ok(vec![self.events(100, self.spec.event_bytes, 1.0)?]),
            Mix::Traces => Ok(vec![self.traces(SPANS_PER_EXPORT)?]),
            Mix::Sdk => {
                let roll: f64 = self.rng.random();
                if roll < 0.70 || self.recent_events.is_empty() {
                    let batch = match self.rng.random_range(0..100) {
                        0..50 => 1,
                        50..85 => 10,
                        _ => 100,
                    };
                    // 300–2,000 bytes at the default 500: 0.6× to 4× the nominal size.
                    Ok(vec![self.events(batch, self.spec.event_bytes, 4.0)?])
                } else if roll < 0.85 {
                    Ok(vec![self.signals()?])
                } else if roll < 0.90 {
                    Ok(vec![self.identify()?])
                } else {
                    self.partial()
                }
            }
        }
    }

    fn new_id(&mut self) -> String {
        // Variant bits 10xx in the first digit after the tag, like a v4 UUID.
        let r: u64 = (self.rng.random::<u64>() >> 2) | (1 << 63);
        format!(
            "00000000-0000-4000-{:04x}-{:012x}",
            r >> 48,
            r & 0xffff_ffff_ffff
        )
    }

    fn user(&mut self) -> String {
        format!("user_{:05}", self.rng.random_range(0..self.users))
    }

    fn timestamp(&mut self) -> String {
        let back = chrono::Duration::milliseconds(self.rng.random_range(0..5000));
        (chrono::Utc::now() - back)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn text(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(WORDS[self.rng.random_range(0..WORDS.len())]);
        }
        s.truncate(len);
        s
    }

    fn properties(&mut self) -> Value {
        let plans = ["free", "pro", "team", "enterprise"];
        json!({
            "plan": plans[self.rng.random_range(0..plans.len())],
            "latency_ms": self.rng.random_range(80..4000),
            "region": if self.rng.random_bool(0.5) { "us-east-1" } else { "eu-west-1" },
            "tokens": {
                "prompt": self.rng.random_range(10..4000),
                "completion": self.rng.random_range(10..2000),
            },
            "tools": ["search", "calculator"],
            "sdk": {"name": "python", "version": "0.0.75"},
        })
    }

    /// One event of about `target` bytes of JSON.
    fn event(&mut self, target: usize) -> anyhow::Result<Value> {
        let event_id = self.new_id();
        self.recent_events.push(event_id.clone());
        if self.rng.random_bool(0.3) {
            self.convos += 1;
        }
        let mut v = json!({
            "event_id": event_id,
            "user_id": self.user(),
            "event": EVENT_NAMES[self.rng.random_range(0..EVENT_NAMES.len())],
            "ai_data": {
                "model": MODELS[self.rng.random_range(0..MODELS.len())],
                "input": "",
                "output": "",
                "convo_id": format!("convo_{}", self.convos),
            },
            "properties": self.properties(),
            "timestamp": self.timestamp(),
            "attachments": null,
        });
        let base = serde_json::to_vec(&v)?.len();
        let fill = target.saturating_sub(base);
        let input_len = (fill * 2 / 5).max(1);
        let output_len = fill.saturating_sub(input_len);
        let input = self.text(input_len);
        let output = self.text(output_len);
        v["ai_data"]["input"] = Value::String(input);
        v["ai_data"]["output"] = Value::String(output);
        Ok(v)
    }

    /// An events/track request of `n` events, sizes log-uniform in
    /// [0.6 × nominal, spread × nominal] (exactly nominal when spread is 1).
    fn events(&mut self, n: usize, nominal: usize, spread: f64) -> anyhow::Result<Step> {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let target = if spread > 1.0 {
                let lo = (nominal as f64 * 0.6).ln();
                let hi = (nominal as f64 * spread).ln();
                self.rng.random_range(lo..hi).exp() as usize
            } else {
                nominal
            };
            items.push(self.event(target)?);
        }
        step(Route::Events, &Value::Array(items), n)
    }

    fn signals(&mut self) -> anyhow::Result<Step> {
        let n = self.rng.random_range(1..=10);
        let window = self.recent_events.len().min(200);
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let back = self.rng.random_range(0..window);
            let event_id = self.recent_events[self.recent_events.len() - 1 - back].clone();
            let positive = self.rng.random_bool(0.6);
            items.push(json!({
                "event_id": event_id,
                "signal_name": if positive { "thumbs_up" } else { "regenerate" },
                "timestamp": self.timestamp(),
                "properties": {},
                "attachment_id": null,
                "sentiment": if positive { json!("POSITIVE") } else { Value::Null },
                "signal_type": "default",
            }));
        }
        step(Route::Signals, &Value::Array(items), n)
    }

    fn identify(&mut self) -> anyhow::Result<Step> {
        let user = self.user();
        let body = json!([{
            "user_id": user,
            "traits": {
                "email": format!("{user}@example.com"),
                "name": format!("User {}", &user[5..]),
                "plan": if self.rng.random_bool(0.3) { "pro" } else { "free" },
                "company": {"name": "Acme", "seats": self.rng.random_range(1..500)},
                "created_at": self.timestamp(),
            },
        }]);
        step(Route::Identify, &body, 1)
    }

    fn partial(&mut self) -> anyhow::Result<Vec<Step>> {
        let event_id = self.new_id();
        self.recent_events.push(event_id.clone());
        self.convos += 1;
        let target = self.spec.event_bytes;
        let input = self.text(target / 3);
        let begin = json!({
            "event_id": event_id,
            "user_id": self.user(),
            "event": "agent_run",
            "ai_data": {
                "model": MODELS[self.rng.random_range(0..MODELS.len())],
                "input": input,
                "convo_id": format!("convo_{}", self.convos),
            },
            "properties": self.properties(),
            "timestamp": self.timestamp(),
            "attachments": null,
            "is_pending": true,
        });
        let output = self.text(target / 2);
        let finish = json!({
            "event_id": event_id,
            "ai_data": {"output": output},
            "is_pending": false,
        });
        Ok(vec![
            step(Route::Partial, &begin, 1)?,
            step(Route::Partial, &finish, 1)?,
        ])
    }
}

/// Spans per request of the traces mix.
pub const SPANS_PER_EXPORT: usize = 50;

/// The first 8 bytes of every trace id in the pool, before a worker writes
/// its tag there; the last 8 are the entry's number.
const TRACE_PLACEHOLDER: [u8; 8] = [0xa5, 0x5a, 0xa5, 0x5a, 0xa5, 0x5a, 0xa5, 0x5a];

impl Generator<'_> {
    /// One OTLP protobuf export: a trace of `n` spans as the AI SDK
    /// integration makes them (a root, then model and tool calls under it),
    /// linked to one Raindrop event.
    fn traces(&mut self, n: usize) -> anyhow::Result<Step> {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
        use prost::Message;

        let text = |key: &str, value: String| KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value)),
            }),
        };
        let int = |key: &str, value: i64| KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(value)),
            }),
        };
        self.traces_made += 1;
        let mut trace_id = TRACE_PLACEHOLDER.to_vec();
        trace_id.extend_from_slice(&self.traces_made.to_be_bytes());
        let event_id = self.new_id();
        let user = self.user();
        let start = u64::try_from(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0))?;
        let mut spans = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let model_call = i % 2 == 1;
            let name = match (i, model_call) {
                (0, _) => "ai.streamText",
                (_, true) => "ai.streamText.doStream",
                _ => "ai.toolCall",
            };
            let mut attributes = vec![
                text("ai.telemetry.metadata.raindrop.eventId", event_id.clone()),
                text("ai.telemetry.metadata.raindrop.userId", user.clone()),
                text("operation.name", name.to_string()),
            ];
            if model_call {
                let model = MODELS[self.rng.random_range(0..MODELS.len())];
                attributes.push(text("gen_ai.request.model", model.to_string()));
                attributes.push(text("ai.prompt", self.text(120)));
                attributes.push(text("ai.response.text", self.text(120)));
                attributes.push(int(
                    "ai.usage.promptTokens",
                    self.rng.random_range(10..4000),
                ));
                attributes.push(int(
                    "ai.usage.completionTokens",
                    self.rng.random_range(10..2000),
                ));
            } else {
                attributes.push(text("ai.toolCall.name", "search".into()));
                attributes.push(text("ai.toolCall.args", self.text(80)));
            }
            spans.push(Span {
                trace_id: trace_id.clone(),
                span_id: (i + 1).to_be_bytes().to_vec(),
                parent_span_id: if i == 0 {
                    Vec::new()
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: name.into(),
                kind: if model_call { 3 } else { 1 },
                start_time_unix_nano: start + i * 1_000_000,
                end_time_unix_nano: start + i * 1_000_000 + self.rng.random_range(1..900_000),
                attributes,
                status: Some(Status {
                    code: 1,
                    message: String::new(),
                }),
                ..Span::default()
            });
        }
        let export = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        text("service.name", "agent".into()),
                        text("telemetry.sdk.language", "nodejs".into()),
                    ],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                schema_url: String::new(),
            }],
        };
        let body = export.encode_to_vec();
        let mut id_slots = Vec::with_capacity(n);
        let mut at = 0;
        while let Some(found) = find(&body[at..], &TRACE_PLACEHOLDER) {
            id_slots.push(u32::try_from(at + found)?);
            at += found + 16;
        }
        anyhow::ensure!(id_slots.len() == n, "every span's trace id is tagged");
        Ok(Step {
            route: Route::Traces,
            body,
            id_slots,
            items: u32::try_from(n)?,
        })
    }
}

/// Serializes `body` and records where its ids are.
fn step(route: Route, body: &Value, items: usize) -> anyhow::Result<Step> {
    let body = serde_json::to_vec(body)?;
    let mut id_slots = Vec::new();
    let mut at = 0;
    while let Some(found) = find(&body[at..], ID_PLACEHOLDER) {
        let slot = at + found + 1;
        id_slots.push(u32::try_from(slot)?);
        at = slot + ID_LEN;
    }
    Ok(Step {
        route,
        body,
        id_slots,
        items: u32::try_from(items)?,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        let next = haystack[i..].iter().position(|&b| b == first)?;
        i += next;
        if haystack.get(i..i + needle.len()) == Some(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn pool(mix: Mix) -> Pool {
        let mut rng = StdRng::seed_from_u64(7);
        generate(
            Spec {
                mix,
                event_bytes: 500,
                projects: 20,
                hot_share: 0.0,
            },
            &mut rng,
        )
        .expect("pool")
    }

    #[test]
    fn single_events_are_about_the_requested_size() {
        let p = pool(Mix::Single);
        assert!(p.entries.len() >= MIN_ENTRIES);
        for e in &p.entries {
            let s = &e.steps[0];
            assert_eq!(s.items, 1);
            // `[` + event + `]`.
            assert!((495..=520).contains(&s.body.len()), "{}", s.body.len());
            assert_eq!(s.id_slots.len(), 1);
        }
    }

    #[test]
    fn patched_ids_stay_valid_json_and_differ_per_tag() {
        let p = pool(Mix::Sdk);
        let mut routes = [0usize; ROUTES];
        for e in &p.entries {
            for s in &e.steps {
                routes[s.route.index()] += 1;
                let mut a = s.body.clone();
                let mut b = s.body.clone();
                patch_ids(&mut a, &s.id_slots, 0xabc_def0_1234_5678);
                patch_ids(&mut b, &s.id_slots, 1);
                let va: Value = serde_json::from_slice(&a).expect("json");
                serde_json::from_slice::<Value>(&b).expect("json");
                if s.route == Route::Events {
                    let first = &va[0]["event_id"];
                    assert_eq!(first.as_str().map(str::len), Some(ID_LEN));
                    assert!(
                        first
                            .as_str()
                            .is_some_and(|id| id.starts_with("abcdef01-2345-4678-"))
                    );
                    assert_eq!(s.id_slots.len() as u32, s.items);
                }
                assert!(s.id_slots.is_empty() || a != b);
            }
        }
        assert!(routes[..4].iter().all(|&n| n > 0), "{routes:?}");
        assert_eq!(
            routes[Route::Traces.index()],
            0,
            "the SDK mix sends no traces"
        );
    }

    #[test]
    fn trace_exports_decode_with_every_trace_id_tagged() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message;
        let p = pool(Mix::Traces);
        let mut traces = std::collections::HashSet::new();
        for e in &p.entries {
            let s = &e.steps[0];
            assert_eq!(
                (s.route, s.items as usize),
                (Route::Traces, SPANS_PER_EXPORT)
            );
            let mut body = s.body.clone();
            patch(s, &mut body, 0x0123_4567_89ab_cdef);
            let export = ExportTraceServiceRequest::decode(&body[..]).expect("protobuf");
            let spans = &export.resource_spans[0].scope_spans[0].spans;
            assert_eq!(spans.len(), SPANS_PER_EXPORT);
            for span in spans {
                assert_eq!(span.trace_id[..8], 0x0123_4567_89ab_cdef_u64.to_be_bytes());
                assert_eq!(span.trace_id, spans[0].trace_id);
            }
            assert!(
                traces.insert(spans[0].trace_id.clone()),
                "one trace per entry"
            );
        }
    }

    #[test]
    fn projects_are_skewed_and_some_requests_have_none() {
        let p = pool(Mix::Single);
        let mut counts = vec![0usize; 21];
        for e in &p.entries {
            counts[e.project.map_or(20, |i| i)] += 1;
        }
        let none = counts[20] as f64 / p.entries.len() as f64;
        assert!((0.25..0.35).contains(&none), "{none}");
        assert!(counts[0] > 5 * counts[19].max(1), "{counts:?}");
    }

    #[test]
    fn a_hot_share_goes_to_the_hot_project() {
        let mut rng = StdRng::seed_from_u64(7);
        let spec = Spec {
            mix: Mix::Single,
            event_bytes: 500,
            projects: 20,
            hot_share: 0.8,
        };
        let p = generate(spec, &mut rng).expect("pool");
        assert_eq!(p.projects.len(), 21);
        assert_eq!(p.projects[20], HOT_PROJECT);
        let hot = p.entries.iter().filter(|e| e.project == Some(20)).count();
        let share = hot as f64 / p.entries.len() as f64;
        assert!((0.75..0.85).contains(&share), "{share}");
        // The rest still spread over the others.
        assert!(p.entries.iter().any(|e| e.project == Some(0)));
    }
}
