"""The agent on the box: drivers feed a durable outbox, an MQTT uplink drains it alarms first, commands come back."""
