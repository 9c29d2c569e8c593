"""Directory sign-in (LDAP, Active Directory) through django-python3-ldap: who a directory user is, and their role.

The directory decides the role at every sign-in: the user's groups (``memberOf`` where the server offers it, as
Active Directory does, else a search for ``groupOfNames`` / ``groupOfUniqueNames`` listing the user under
``LDAP_GROUP_BASE``) are looked up in ``LDAP_ROLE_GROUPS`` (group name -> role), and the highest role found is
assigned (none found: no role, so the account signs in to nothing). Local accounts stay for break-glass: a local
account with a password is never taken over by a directory entry of the same name.
"""

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from accounts.services.roles import Role, user_role_assign

logger = logging.getLogger(__name__)

ROLE_RANK = {role: rank for rank, role in enumerate(Role)}  # Wall screen < Operator < Engineer < Administrator


def _group_name(dn: str) -> str:
    """The first RDN's value, unescaped: "cn=Line 1\\, shift A,ou=groups,..." -> "Line 1, shift A"."""
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    try:
        rdns = parse_dn(dn, escape=False)
    except LDAPInvalidDnError:
        return dn  # not a DN (some servers' memberOf values are plain names)
    return _dn_value_unescaped(rdns[0][1]) if rdns else dn


def _dn_value_unescaped(value: str) -> str:
    """RFC 4514: a backslash escapes the next character, or starts two hex digits."""
    out, i = bytearray(), 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out += bytes.fromhex(pair)
                i += 3
                continue
            out += value[i + 1 : i + 2].encode()
            i += 2
            continue
        out += value[i].encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def directory_role_for(group_names: list[str], *, mapping: dict[str, str] | None = None) -> Role | None:
    """The highest role that `group_names` map to (LDAP_ROLE_GROUPS unless another `mapping` is given), or None."""
    if mapping is None:
        mapping = settings.LDAP_ROLE_GROUPS
    lowered = {name.lower(): role for name, role in mapping.items()}
    roles = [Role(lowered[name.lower()]) for name in group_names if name.lower() in lowered]
    return max(roles, key=ROLE_RANK.__getitem__) if roles else None


def _groups_searched(connection: Any, dn: str) -> list[str]:
    from ldap3 import SUBTREE
    from ldap3.utils.conv import escape_filter_chars

    base = settings.LDAP_GROUP_BASE
    if not base:
        return []
    member = escape_filter_chars(dn)
    connection.search(
        search_base=base,
        search_filter=f"(|(&(objectClass=groupOfNames)(member={member}))"
        f"(&(objectClass=groupOfUniqueNames)(uniqueMember={member})))",
        search_scope=SUBTREE,
        attributes=["cn"],
    )
    return [entry["dn"] for entry in connection.response if entry.get("type") == "searchResEntry"]


def local_account_refuse(username: str) -> None:
    """Refuse directory sign-in as a local account with a password: break-glass accounts are never taken over."""
    local = get_user_model().objects.filter(username=username).first()
    if local is not None and local.has_usable_password():
        logger.warning("Directory sign-in refused: %r is a local account", username)
        raise PermissionDenied(f"{username} is a local account")


def directory_user_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Refuse a directory entry whose user name is a local account with a password (break-glass accounts)."""
    local_account_refuse(fields.get("username", ""))
    return fields


def directory_user_sync(user: Any, attributes: dict[str, Any], *, connection: Any, dn: str) -> None:
    """Give `user` the role their directory groups map to (called at each directory sign-in)."""
    group_dns = list(attributes.get("memberOf") or []) or _groups_searched(connection, dn)
    role = directory_role_for([_group_name(group) for group in group_dns])
    user_role_assign(user=user, role=role)
