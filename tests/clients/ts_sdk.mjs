// The TypeScript SDK (`raindrop-ai` 0.1.7), unmodified, tracing on (its
// default): events, identify, signals (agent types too), an interaction
// (track_partial) with spans exported as OTLP protobuf to <origin>/v1/traces.
// Driven by tests/it/js_clients.rs; prints the ids it used as JSON.
import { Raindrop } from "raindrop-ai";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const raindrop = new Raindrop({
  writeKey: env("DOWNPOUR_KEY"),
  endpoint: env("DOWNPOUR_ENDPOINT"),
  projectId: env("DOWNPOUR_PROJECT"),
  localWorkshopUrl: false,
  bufferTimeout: 100,
});

const eventId = raindrop.trackAi({
  eventId: "ts-event-1",
  event: "chat",
  userId: "ts-user",
  model: "gpt-test",
  input: "what is up",
  output: "not much",
  convoId: "ts-convo",
  properties: { plan: "pro", nested: { a: [1, 2] } },
  attachments: [{ type: "code", role: "output", name: "q.sql", value: "SELECT 1", language: "sql" }],
});
raindrop.setUserDetails({ userId: "ts-user", traits: { plan: "pro", seats: 3 } });
raindrop.trackSignal({ eventId, name: "thumbs_up", sentiment: "POSITIVE" });
raindrop.trackSignal({ eventId, name: "agent_note", type: "agent" });
raindrop.trackSignal({ eventId, name: "agent_internal_note", type: "agent_internal" });

const interaction = raindrop.begin({
  eventId: "ts-interaction-1",
  event: "agent_run",
  userId: "ts-user",
  convoId: "ts-convo",
  input: "do the thing",
});
await interaction.withSpan({ name: "plan_step" }, async () => {
  await interaction.withTool({ name: "search", inputParameters: { q: "x" } }, async () => ({ hits: 2 }));
  return "planned";
});
await interaction.finish({ output: "done" });
await raindrop.close();
console.log(JSON.stringify({ event_id: eventId, interaction_id: "ts-interaction-1" }));
