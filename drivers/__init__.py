"""Device drivers: one protocol each, a pure codec (no I/O) under an async transport."""
