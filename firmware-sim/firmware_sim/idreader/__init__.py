"""A simulated resident ID card reader (SAM module on a serial line), and cards to present to it."""
