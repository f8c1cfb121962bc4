"""Drives the real Raindrop Python SDK (raindrop-ai, pinned by scripts/components.sh)
against a downpour edge, unmodified. Prints the event ids it created as JSON."""
import json
import os
import sys
import uuid

import raindrop.analytics as raindrop
from raindrop.models import Attachment

raindrop.init(
    os.environ["DOWNPOUR_SDK_KEY"],
    endpoint=os.environ["DOWNPOUR_SDK_ENDPOINT"],
    project_id=os.environ["DOWNPOUR_SDK_PROJECT"],
    app_git=False,
    local_workshop_url=None,
)
event_id = raindrop.track_ai(
    user_id="user_123",
    event="chat_message",
    model="gpt-4o",
    input="How do I reset my password?",
    output="Settings > Security.",
    convo_id="convo_abc",
    properties={"plan": "pro", "tokens": 42},
    attachments=[Attachment(type="text", value="ctx", role="context")],
)
raindrop.track_signal(event_id=event_id, name="thumbs_up")
raindrop.track_signal(event_id=event_id, name="user_feedback", signal_type="feedback", comment="Great", sentiment="POSITIVE")
raindrop.identify("user_123", {"name": "Ada", "vip": True})
partial_id = str(uuid.uuid4())
interaction = raindrop.begin(
    user_id="user_456", event="agent_run", event_id=partial_id, input="Summarise #9", convo_id="c2"
)
interaction.set_properties({"ticket": 9})
interaction.finish(output="Refund requested.")
raindrop.flush()
raindrop.shutdown()
json.dump({"event_id": event_id, "partial_id": partial_id}, sys.stdout)
