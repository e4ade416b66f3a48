"""The site's allow-list at the edge: central's signed `access_list`, stored, and the door decisions made from it."""

from edge.access.applying import ApplyResult, Offloaded
from edge.access.store import AccessStore
from shaobing.card_names import canonical_card

__all__ = ["AccessStore", "ApplyResult", "Offloaded", "canonical_card"]
