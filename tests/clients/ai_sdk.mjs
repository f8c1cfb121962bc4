// The AI SDK integration (`@raindrop-ai/ai-sdk` 0.3.0 with `ai` 5),
// unmodified, with a mock model (no LLM): a wrapped generateText (its event
// as track_partial patches, its spans as OTLP JSON to <endpoint>traces),
// patches with feature flags, attachments and properties, signals of the
// types `agent` and `agent_internal`, identify, and manual parent/child
// spans. Driven by tests/it/js_clients.rs; prints the ids as JSON.
import * as ai from "ai";
import { MockLanguageModelV2 } from "ai/test";
import { createRaindropAISDK, eventMetadata } from "@raindrop-ai/ai-sdk";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const raindrop = createRaindropAISDK({
  writeKey: env("DOWNPOUR_KEY"),
  endpoint: env("DOWNPOUR_ENDPOINT"),
  projectId: env("DOWNPOUR_PROJECT"),
  localWorkshopUrl: false,
  events: { partialFlushMs: 100 },
  traces: { flushIntervalMs: 100 },
});
const model = new MockLanguageModelV2({
  provider: "mock-provider",
  modelId: "mock-model",
  doGenerate: async () => ({
    content: [{ type: "text", text: "It is sunny." }],
    finishReason: "stop",
    usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
    warnings: [],
  }),
});
const { generateText } = raindrop.wrap(ai, {
  context: { userId: "ai-user", convoId: "ai-convo", eventName: "chat_message" },
});
const eventId = "ai-event-1";
await generateText({
  model,
  prompt: "weather?",
  experimental_telemetry: { isEnabled: true, metadata: eventMetadata({ eventId }) },
});
// A manual event built from patches before it is finished (patches of an
// already finished event are not sent by the SDK).
const manualId = "ai-event-2";
await raindrop.events.patch(manualId, {
  userId: "ai-user", eventName: "manual_event", input: "hello", isPending: true,
});
await raindrop.events.setFeatureFlags(manualId, ["new_ui"]);
await raindrop.events.setProperties(manualId, { stage: "patched" });
await raindrop.events.addAttachments(manualId, [
  { type: "text", role: "input", name: "doc", value: "context text" },
]);
await raindrop.events.finish(manualId, { output: "world" });
await raindrop.signals.track({ eventId, name: "agent_note", type: "agent" });
await raindrop.signals.track({ eventId, name: "agent_internal_note", type: "agent_internal" });
await raindrop.users.identify({ userId: "ai-user", traits: { plan: "pro" } });
const root = raindrop.traces.startSpan({ name: "agent_turn", eventId });
raindrop.traces.createSpan({
  name: "grep_search", eventId, parent: root, operationId: "ai.toolCall",
  input: { q: "x" }, output: "2 hits", durationMs: 3,
});
raindrop.traces.endSpan(root);
await raindrop.shutdown();
console.log(JSON.stringify({ event_id: eventId, manual_id: manualId, root_span: root.spanId }));
