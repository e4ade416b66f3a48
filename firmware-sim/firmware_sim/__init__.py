"""Simulated field devices that speak the real wire protocols, for tests, demos and load."""
