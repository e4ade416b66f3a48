"""Personal data in API answers and logs: ID numbers and names in full only for the roles that need them."""

from __future__ import annotations

from central.api.auth import PERSONAL_DATA_ROLES, Principal, Role


def mask_id(number: str) -> str:
    """The region and the last four kept (110101********1234): enough to tell two people apart, not to find one."""
    if len(number) >= 12:
        return number[:6] + "*" * (len(number) - 10) + number[-4:]
    return number[:2] + "*" * max(0, len(number) - 2)


def mask_name(name: str) -> str:
    """The first character kept: 张** for 张三丰."""
    return name[:1] + "*" * max(0, len(name) - 1)


def id_for(principal: Principal, number: str) -> str:
    return number if principal.role in PERSONAL_DATA_ROLES else mask_id(number)


def name_for(principal: Principal, name: str) -> str:
    """Operators need the name at the counter; viewers see it partly."""
    return mask_name(name) if principal.role is Role.VIEWER else name
