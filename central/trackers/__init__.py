"""What central does with e-bike trackers' readings: positions stored and filtered, each tracker's current position,
the theft rule, owners' notifications, and the actions the owners' API calls (arm, disarm, confirm a theft).

See docs/trackers.md for the data model and the rules.
"""
