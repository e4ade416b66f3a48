"""Tests of the edge agent: outbox, uplink, presence, arming, commands, over real SQLite files and Mosquitto."""
