// @raindrop-ai/query 0.1.13, unmodified, against downpour's Query API
// (tests/it/query_sdk.rs ingested the data through the edge first). The SDK
// validates every answer against its zod schemas, so a call that returns
// here returned the SDK's shape. Prints one JSON line of what it read.
// DOWNPOUR_SUITE picks what it reads: `events` (the default: events.list,
// get, count) or `views` (search, timeseries, facets, signals, signal
// groups, users, conversations, traces).
import { RaindropQuery } from "@raindrop-ai/query";

const serverURL = process.env.DOWNPOUR_BASE;
const apiKey = process.env.DOWNPOUR_KEY;
const projectId = process.env.DOWNPOUR_PROJECT;
const sdk = new RaindropQuery({ serverURL, apiKey, projectId });

// The SDK's error for a call that fails: its class name, the HTTP status and
// the error body's details (`field`, `allowedFields`).
async function failure(call) {
  try {
    await call();
    return { status: 200 };
  } catch (e) {
    return {
      name: e.name,
      status: e.statusCode ?? e.httpMeta?.response?.status,
      field: e.error?.details?.field,
      allowedFields: e.error?.details?.allowedFields,
      message: e.message,
    };
  }
}

// The first suite: events.list, get and count.
async function eventsSuite() {
  // Every page, following meta.cursor while meta.hasMore.
  const pages = [];
  let cursor;
  for (;;) {
    const page = await sdk.events.list({ limit: 2, cursor });
    pages.push(page.data.map((e) => e.id));
    if (!page.meta.hasMore) break;
    cursor = page.meta.cursor;
  }

  const filtered = await sdk.events.list({
    userId: { eq: "u1" },
    eventName: { startsWith: "ch" },
    timestamp: { gte: new Date(Number(process.env.DOWNPOUR_T0)) },
    properties: { plan: "pro", n: { gte: 2 } },
  });
  const bySignal = await sdk.events.list({ signal: "thumbs_up" });
  const byTrait = await sdk.events.list({ traits: { plan: "paid" } });
  const oldest = await sdk.events.list({ orderBy: "timestamp", limit: 1 });

  const one = await sdk.events.get({ id: "q1" });
  const total = await sdk.events.count({});
  const users = await sdk.events.count({ countBy: "user_id" });

  const missing = await failure(() => sdk.events.get({ id: "nope" }));
  const pending = await failure(() => sdk.events.list({ projectId: "never-created" }));
  const badLimit = await failure(() => sdk.events.list({ limit: 5000 }));

  return {
    pages,
    filtered: filtered.data.map((e) => e.id),
    bySignal: bySignal.data.map((e) => e.id),
    byTrait: byTrait.data.map((e) => e.id),
    oldest: oldest.data.map((e) => e.id),
    one: {
      id: one.data.id,
      eventName: one.data.eventName,
      userId: one.data.userId,
      convoId: one.data.convoId,
      timestamp: one.data.timestamp.toISOString(),
      userInput: one.data.userInput,
      assistantOutput: one.data.assistantOutput,
      model: one.data.model,
      signals: one.data.signals.map((s) => s.name),
      featureFlags: one.data.featureFlags,
      properties: one.data.properties,
      inputAttachments: one.data.inputAttachments,
    },
    total: total.data.total,
    users: users.data.total,
    missing,
    pending,
    badLimit,
  };
}

// The second suite (DOWNPOUR_SUITE=views): search, timeseries, facets,
// signals and signal groups, users, conversations, traces. Every value is
// printed in a plain form (dates as ISO strings, lists sorted where the API
// leaves their order open) for tests/it/query_sdk.rs to compare exactly.
async function viewsSuite() {
  const T = Number(process.env.DOWNPOUR_T0);
  const M = 60_000;
  const H = 60 * M;
  const at = (offset) => new Date(T + offset);
  const iso = (d) => (d instanceof Date ? d.toISOString() : d);
  const ids = (page) => page.data.map((x) => x.id);
  // Every page of `list`, following meta.cursor while meta.hasMore (at most 10).
  async function pages(list, limit) {
    const out = { ids: [], hasMore: [] };
    let cursor;
    for (let i = 0; i < 10; i++) {
      const page = await list({ limit, cursor });
      out.ids.push(ids(page));
      out.hasMore.push(page.meta.hasMore);
      if (!page.meta.hasMore) break;
      cursor = page.meta.cursor;
    }
    return out;
  }
  const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const signals = (list) => (list ?? []).map((s) => ({ id: s.id, name: s.name })).sort(byName);
  const signal = (s) => ({
    id: s.id, type: s.type, name: s.name, description: s.description,
    createdAt: iso(s.createdAt), groupId: s.groupId, groupName: s.groupName, sentiment: s.sentiment,
  });
  const group = (g) => ({
    id: g.id, name: g.name, description: g.description, orgId: g.orgId,
    createdAt: iso(g.createdAt), updatedAt: iso(g.updatedAt), signalCount: g.signalCount,
  });
  const user = (u) => ({
    id: u.id, traits: u.traits, firstSeen: iso(u.firstSeen), lastSeen: iso(u.lastSeen),
    eventCount: u.eventCount,
  });
  const convo = (c) => ({
    id: c.id, userId: c.userId, startedAt: iso(c.startedAt), lastMessageAt: iso(c.lastMessageAt),
    messageCount: c.messageCount,
    signals: (c.signals ?? []).map((s) => ({ id: s.id, name: s.name, count: s.count })).sort(byName),
  });
  const span = (s) => ({
    traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId, spanName: s.spanName,
    spanType: s.spanType, status: s.status, startTimeNs: s.startTimeNs, endTimeNs: s.endTimeNs,
    durationNs: s.durationNs, input: s.input, output: s.output, inputTokens: s.inputTokens,
    outputTokens: s.outputTokens, model: s.model, provider: s.provider, attributes: s.attributes,
  });
  const series = (r) => ({
    buckets: r.data.buckets.map((b) => ({ timestamp: iso(b.timestamp), count: b.count })),
    total: r.data.total,
    interval: r.meta.interval,
  });
  const facets = (r) => r.data.map((f) => ({ value: f.value, count: f.count }));

  // events.search
  const search = (q) => sdk.events.search(q).then(ids);
  const searchPages = await pages((p) => sdk.events.search({ query: "help", ...p }), 1);
  const searched = {
    text: await search({ query: "password" }),
    textMode: await search({ query: "password", mode: "text" }),
    inInput: await search({ query: "password", searchIn: "user_input" }),
    inOutput: await search({ query: "password", searchIn: "assistant_output" }),
    inName: await search({ query: "PING", searchIn: "event_name" }),
    help: await search({ query: "help" }),
    byUser: await search({ query: "help", userId: "bob" }),
    byConvo: await search({ query: "help", convoId: "cv1" }),
    bySignal: await search({ query: "help", signal: "regenerate" }),
    since: await search({ query: "help", timestampGte: at(3 * H) }),
    before: await search({ query: "help", timestampLt: at(3 * H) }),
    regex: await search({ query: "order #\\d+", mode: "regex" }),
    regexCase: await search({ query: "Password", mode: "regex" }),
    regexNoCase: await search({ query: "(?i)Password", mode: "regex" }),
    regexAnchor: await search({ query: "^weather", mode: "regex" }),
    pages: searchPages,
    signalsOfHit: signals((await sdk.events.search({ query: "order #1234" })).data[0]?.signals),
  };
  const searchErrors = {
    semantic: await failure(() => sdk.events.search({ query: "password", mode: "semantic" })),
    badRegex: await failure(() => sdk.events.search({ query: "(", mode: "regex" })),
    empty: await failure(() => sdk.events.search({ query: "" })),
  };

  // events.timeseries
  const ts = (q) => sdk.events.timeseries(q).then(series);
  const timeseries = {
    hour: await ts({ interval: "hour", timestamp: { gte: at(-30 * M), lt: at(4 * H + 30 * M) } }),
    bobHour: await ts({
      interval: "hour", userId: { eq: "bob" }, timestamp: { gte: at(0), lte: at(3 * H + 30 * M) },
    }),
    feedbackHour: await ts({
      interval: "hour", signalGroup: "feedback", timestamp: { gte: at(0), lt: at(3 * H + 30 * M) },
    }),
    day: await ts({ interval: "day" }),
    none: await ts({ interval: "day", eventName: { eq: "nothing" } }),
  };
  const tooManyBuckets = await failure(() =>
    sdk.events.timeseries({ interval: "minute", timestamp: { gte: at(-240 * H), lt: at(0) } }));

  // events.facets
  const fc = (q) => sdk.events.facets(q).then(facets);
  const facetsOf = {
    eventName: await fc({ field: "event_name" }),
    eventNameTop2: await fc({ field: "event_name", limit: 2 }),
    eventNameByUser: await fc({ field: "event_name", countBy: "user_id" }),
    eventNameOfAlice: await fc({ field: "event_name", userId: "alice" }),
    eventNameWindow: await fc({ field: "event_name", timestampGte: at(H), timestampLt: at(3 * H + 30 * M) }),
    eventNameFeedback: await fc({ field: "event_name", signalGroup: "feedback" }),
    userId: await fc({ field: "user_id" }),
    userIdByConvo: await fc({ field: "user_id", countBy: "convo_id", timestampLt: at(4 * H) }),
    signal: await fc({ field: "signal" }),
    signalOfBob: await fc({ field: "signal", userId: "bob" }),
  };

  // signals and signal groups
  const signalsPages = await pages((p) => sdk.signals.list(p), 2);
  const signalsAll = (await sdk.signals.list({})).data.map(signal);
  const signalsOldest = ids(await sdk.signals.list({ orderBy: "timestamp" }));
  const signalOne = signal((await sdk.signals.get({ id: "thumbs_up" })).data);
  const signalMissing = await failure(() => sdk.signals.get({ id: "leaked" }));
  const groupsPages = await pages((p) => sdk.signalGroups.list(p), 2);
  const groupsAll = (await sdk.signalGroups.list({})).data.map(group);
  const groupOne = group((await sdk.signalGroups.get({ id: "feedback" })).data);
  const groupMissing = await failure(() => sdk.signalGroups.get({ id: "agent" }));
  const groupSignals = (await sdk.signalGroups.listSignals({ id: "feedback" })).data.map(signal);
  const groupSignalsPages = await pages((p) => sdk.signalGroups.listSignals({ id: "feedback", ...p }), 1);
  const groupSignalsMissing = await failure(() => sdk.signalGroups.listSignals({ id: "agent" }));
  const byGroup = {
    feedback: ids(await sdk.events.list({ signalGroup: "feedback" })),
    edit: ids(await sdk.events.list({ signalGroup: "edit" })),
    feedbackCount: (await sdk.events.count({ signalGroup: "feedback" })).data.total,
  };
  const eventSignals = {
    e1: signals((await sdk.events.get({ id: "e1" })).data.signals),
    e5: signals((await sdk.events.get({ id: "e5" })).data.signals),
    e7: signals((await sdk.events.get({ id: "e7" })).data.signals),
  };

  // users
  const ul = (q) => sdk.users.list(q).then(ids);
  const users = {
    pages: await pages((p) => sdk.users.list(p), 3),
    all: (await sdk.users.list({})).data.map(user),
    oldest: await ul({ orderBy: "timestamp" }),
    bob: await ul({ userId: { eq: "bob" } }),
    startsWithCa: await ul({ userId: { startsWith: "ca" } }),
    pro: await ul({ traits: { plan: "pro" } }),
    free: await ul({ traits: { plan: "free" } }),
    seats: await ul({ traits: { seats: { gte: 2 } } }),
    firstSeenSince: await ul({ firstSeen: { gte: at(H) } }),
    lastSeenBefore: await ul({ lastSeen: { lt: at(3 * H) } }),
    between: await ul({ firstSeen: { gte: at(H) }, lastSeen: { lt: at(4 * H) } }),
    alice: user((await sdk.users.get({ id: "alice" })).data),
    bobOne: user((await sdk.users.get({ id: "bob" })).data),
    dave: user((await sdk.users.get({ id: "dave" })).data),
    missing: await failure(() => sdk.users.get({ id: "mallory" })),
  };

  // conversations
  const cl = (q) => sdk.conversations.list(q).then(ids);
  const conversations = {
    pages: await pages((p) => sdk.conversations.list(p), 2),
    all: (await sdk.conversations.list({})).data.map(convo),
    oldest: await cl({ orderBy: "timestamp" }),
    alice: await cl({ userId: { eq: "alice" } }),
    bob: await cl({ userId: { eq: "bob" } }),
    startedSince: await cl({ startedAt: { gte: at(H) } }),
    startedBefore: await cl({ startedAt: { lt: at(H) } }),
    cv2: convo((await sdk.conversations.get({ id: "cv2" })).data),
    cv4: convo((await sdk.conversations.get({ id: "cv4" })).data),
    missing: await failure(() => sdk.conversations.get({ id: "cv-leak" })),
  };

  // traces
  const tl = (q) => sdk.traces.list(q).then((r) => r.data.map(span));
  const traces = {
    e1: await tl({ eventId: "e1" }),
    e1Cut: (await tl({ eventId: "e1", truncLen: 5 })).map((s) => [s.input, s.output]),
    e1Two: (await tl({ eventId: "e1", limit: 2 })).map((s) => s.spanId),
    e2: (await tl({ eventId: "e2" })).map((s) => s.spanId),
    e5: await tl({ eventId: "e5" }),
    // The SDK refuses to send a request without eventId; the server's answer to one.
    noEvent: (await fetch(`${serverURL}/v1/traces`, {
      headers: { Authorization: `Bearer ${apiKey}`, "X-Raindrop-Project-Id": projectId },
    })).status,
  };

  return {
    searched, searchErrors, timeseries, tooManyBuckets, facets: facetsOf,
    signalsPages, signalsAll, signalsOldest, signalOne, signalMissing,
    groupsPages, groupsAll, groupOne, groupMissing, groupSignals, groupSignalsPages,
    groupSignalsMissing, byGroup, eventSignals, users, conversations, traces,
  };
}

const suite = process.env.DOWNPOUR_SUITE ?? "events";
const result = suite === "views" ? await viewsSuite() : await eventsSuite();
console.log(JSON.stringify(result));
