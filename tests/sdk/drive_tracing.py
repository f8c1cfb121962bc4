"""Drives the real Raindrop Python SDK (raindrop-ai, pinned by
scripts/components.sh) with tracing on: an interaction whose task and tool
spans traceloop exports as OTLP/HTTP protobuf to <scheme://host:port>/v1/traces.
Prints the interaction's event id as JSON."""
import json
import os
import sys

import raindrop.analytics as raindrop

raindrop.init(
    os.environ["DOWNPOUR_SDK_KEY"],
    endpoint=os.environ["DOWNPOUR_SDK_ENDPOINT"],
    project_id=os.environ["DOWNPOUR_SDK_PROJECT"],
    tracing_enabled=True,
    auto_instrument=False,
    app_git=False,
    local_workshop_url=None,
)
event_id = "py-traced-1"
interaction = raindrop.begin(
    user_id="py-user", event="agent_run", event_id=event_id, input="plan it", convo_id="py-convo"
)
with raindrop.task_span("plan"):
    with raindrop.tool_span("search"):
        pass
interaction.finish(output="planned")
raindrop.flush()
raindrop.shutdown()
json.dump({"event_id": event_id}, sys.stdout)
