"""Grouper groups to OpenLDAP, members as group attributes (``member`` DNs).

Run it from a checkout (``pip install '.[ldap]'``; Debian's ``slapd`` package)::

    python examples/ldap_group_attributes.py                # its own throw-away slapd
    python examples/ldap_group_attributes.py ldap://host:389 BIND_DN PASSWORD BASE_DN

With no arguments it starts a throw-away OpenLDAP server on 127.0.0.1 (the
test fixture's ``SlapdServer``), provisions a small campus into it with
bushy DNs (folders become OUs), renames a group, changes memberships through
change-log events, and prints the directory after each step.
"""

from __future__ import annotations

import sys

import ldap3

from grouperprov import Provisioner, ProvisionerConfig
from grouperprov.stores import MemorySyncStore
from grouperprov.targets.ldap import DnStyle, LdapGroups, LdapTarget
from grouperprov.testing import InMemorySource, SlapdServer

CONFIG = """
name = "campus-ldap"

[groups]
matching = ["name"]
attributes = [
  { name = "name", field = "name" },
  { name = "cn", field = "extension" },
  { name = "description", field = "description" },
]
delete_policy = "inserted_by_us"

[entities]
operate = false

[memberships]
type = "group_attributes"

[memberships.attribute]
name = "member"
template = "uid={subject_id|dn},ou=people,dc=example,dc=edu"
case_sensitive = false  # the directory compares DNs ignoring case
"""


def campus() -> InMemorySource:
    """A few groups under apps:ldap (provisioned) and one outside it (never provisioned)."""
    source = InMemorySource()
    for subject in ("ada", "alan", "grace", "o'brien, j"):
        source.add_subject(subject)
    source.add_group("apps:ldap:staff", description="All staff")
    source.add_group("apps:ldap:courses:math101", description="Math 101")
    source.add_group("apps:wiki:editors")
    for subject in ("ada", "alan", "o'brien, j"):
        source.add_member("apps:ldap:staff", subject)
    source.add_member("apps:ldap:courses:math101", "grace")
    source.add_member("apps:wiki:editors", "ada")
    source.mark("apps:ldap", "campus-ldap", scope="sub")
    return source


def show(connection: ldap3.Connection, base: str) -> None:
    connection.search(base, "(objectClass=groupOfNames)", attributes=["member", "description"])
    for entry in sorted(connection.entries, key=lambda e: e.entry_dn):
        members = sorted(m.split(",")[0] for m in entry.member.values if m.startswith("uid="))
        print(f"  {entry.entry_dn}: {', '.join(members) or '(no member)'}")


def run(url: str, bind_dn: str, password: str, base: str) -> None:
    target = LdapTarget(
        url,
        bind_dn=bind_dn,
        password=password,
        groups=LdapGroups(
            base_dn=base,
            dn_style=DnStyle.BUSHY,
            path_attribute="name",
            attributes=("description",),
            placeholder="cn=nobody,dc=example,dc=edu",
        ),
    )
    viewer = ldap3.Connection(ldap3.Server(url), bind_dn, password, auto_bind=True)
    source = campus()
    provisioner = Provisioner(
        ProvisionerConfig.from_toml(CONFIG), source, target, MemorySyncStore()
    )
    print(provisioner.full_sync().summary())
    show(viewer, base)

    seen = len(source.changes)
    source.rename_group("apps:ldap:courses:math101", "apps:ldap:courses:calculus")
    source.add_member("apps:ldap:courses:calculus", "alan")
    source.remove_member("apps:ldap:staff", "alan")
    result = provisioner.incremental_sync(source.events(seen))
    print(result.summary())
    show(viewer, base)
    print("a full sync now plans", len(provisioner.plan_full().plan.changes), "changes")
    viewer.unbind()
    target.close()


def main() -> None:
    if len(sys.argv) == 5:  # noqa: PLR2004  # url, bind DN, password, base DN
        run(*sys.argv[1:5])
        return
    with SlapdServer() as server:
        run(server.url, server.bind_dn, server.password, f"ou=groups,{server.suffix}")


if __name__ == "__main__":
    main()
