"""Webhooks: signed deliveries (signing) from a durable outbox (outbox), sent with retries (sender)."""
