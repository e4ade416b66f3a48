"""The central dispatcher: ingest readings from MQTT, store them once, turn alarms into dispatches, serve the API."""
