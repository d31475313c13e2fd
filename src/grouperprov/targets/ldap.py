"""The LDAP target: groups and people as directory entries (needs the ``ldap`` extra: ldap3).

See :class:`LdapTarget`, :class:`LdapGroups` and :class:`LdapEntities`; the
"targets" documentation page has the configuration reference and examples.
Importing this module needs ``pip install 'grouperprov[ldap]'``;
``import grouperprov`` and ``grouperprov.targets`` never import ldap3.
"""

from __future__ import annotations

from grouperprov.targets._ldap import DnStyle, LdapEntities, LdapGroups, LdapTarget

__all__ = ["DnStyle", "LdapEntities", "LdapGroups", "LdapTarget"]
