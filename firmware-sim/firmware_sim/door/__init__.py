"""A simulated OSDP door reader (a libosdp peripheral device) for tests, demos and `shaobing sim door`."""
