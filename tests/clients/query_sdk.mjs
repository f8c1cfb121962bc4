// @raindrop-ai/query 0.1.13, unmodified, against downpour's Query API
// (tests/it/query_sdk.rs ingested the data through the edge first). The SDK
// validates every answer against its zod schemas, so a call that returns
// here returned the SDK's shape. Prints one JSON line of what it read.
import { RaindropQuery } from "@raindrop-ai/query";

const serverURL = process.env.DOWNPOUR_BASE;
const apiKey = process.env.DOWNPOUR_KEY;
const projectId = process.env.DOWNPOUR_PROJECT;
const sdk = new RaindropQuery({ serverURL, apiKey, projectId });

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

async function failure(call) {
  try {
    await call();
    return { status: 200 };
  } catch (e) {
    return { name: e.name, status: e.statusCode ?? e.httpMeta?.response?.status, message: e.message };
  }
}
const missing = await failure(() => sdk.events.get({ id: "nope" }));
const pending = await failure(() => sdk.events.list({ projectId: "never-created" }));
const badLimit = await failure(() => sdk.events.list({ limit: 5000 }));

console.log(JSON.stringify({
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
}));
