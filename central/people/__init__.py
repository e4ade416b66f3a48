"""People and places: the police watch-list, rental buildings (buildings, rooms, beds, registrations, cards and the
sites' signed allow-lists) and mine communities (movements, underground headcount, key persons).

See docs/people.md for the data model, the rules and the API.
"""
