"""Dispatches: the state machine (states), their storage and audit trail (repository), the acknowledgement timer."""
