"""Grouper memberships to OpenLDAP as entitlements on people (``eduPersonEntitlement``).

Run it from a checkout (``pip install '.[ldap]'``; Debian's ``slapd`` package)::

    python examples/ldap_entitlements.py                    # its own throw-away slapd
    python examples/ldap_entitlements.py ldap://host:389 BIND_DN PASSWORD PEOPLE_BASE_DN

People come from the identity system and are already in the directory, as
``inetOrgPerson`` entries; grouperprov only adds and removes one entitlement
URN per provisioned group (``urn:mace:example.edu:group:<name>``), giving a
person the ``eduPerson`` class that attribute needs the first time (people
are read by their structural class, with or without it). With no arguments it starts a
throw-away OpenLDAP server, adds the people, provisions, changes a membership
through change-log events, and prints every person's entitlements.
"""

from __future__ import annotations

import sys

import ldap3

from grouperprov import Provisioner, ProvisionerConfig, escape_dn_value
from grouperprov.stores import MemorySyncStore
from grouperprov.targets.ldap import LdapEntities, LdapTarget
from grouperprov.testing import InMemorySource, SlapdServer

CONFIG = """
name = "campus-entitlements"

[groups]
operate = false

[entities]
matching = ["uid"]
attributes = [{ name = "uid", field = "subject_id" }]
insert = false   # people come from the identity system
delete = false

[memberships]
type = "entity_attributes"
attribute = { name = "eduPersonEntitlement", template = "urn:mace:example.edu:group:{name}" }
"""
PEOPLE = ("ada", "alan", "grace")


def campus() -> InMemorySource:
    source = InMemorySource()
    for subject in PEOPLE:
        source.add_subject(subject)
    source.add_group("apps:wiki:editors")
    source.add_group("apps:wiki:readers")
    source.add_member("apps:wiki:editors", "ada")
    source.add_member("apps:wiki:readers", "ada")
    source.add_member("apps:wiki:readers", "alan")
    source.mark("apps:wiki", "campus-entitlements", scope="sub")
    return source


def show(connection: ldap3.Connection, base: str) -> None:
    connection.search(
        base, "(objectClass=inetOrgPerson)", attributes=["eduPersonEntitlement", "objectClass"]
    )
    for entry in sorted(connection.entries, key=lambda e: e.entry_dn):
        values = sorted(v.rsplit(":", 1)[1] for v in entry.eduPersonEntitlement.values)
        classes = "eduPerson" if "eduPerson" in entry.objectClass.values else "no eduPerson"
        print(f"  {entry.entry_dn}: {', '.join(values) or '(none)'} ({classes})")


def run(url: str, bind_dn: str, password: str, base: str) -> None:
    viewer = ldap3.Connection(ldap3.Server(url), bind_dn, password, auto_bind=True)
    target = LdapTarget(
        url,
        bind_dn=bind_dn,
        password=password,
        entities=LdapEntities(
            base_dn=base,
            auxiliary_classes=("eduPerson",),  # added to a person who lacks it
            attributes=("eduPersonEntitlement",),
            multi_valued=("eduPersonEntitlement",),
        ),
    )
    source = campus()
    provisioner = Provisioner(
        ProvisionerConfig.from_toml(CONFIG), source, target, MemorySyncStore()
    )
    print(provisioner.full_sync().summary())
    show(viewer, base)
    seen = len(source.changes)
    source.add_member("apps:wiki:editors", "grace")
    source.remove_member("apps:wiki:readers", "alan")
    print(provisioner.incremental_sync(source.events(seen)).summary())
    show(viewer, base)
    print("a full sync now plans", len(provisioner.plan_full().plan.changes), "changes")
    viewer.unbind()
    target.close()


def main() -> None:
    if len(sys.argv) == 5:  # noqa: PLR2004  # url, bind DN, password, base DN
        run(*sys.argv[1:5])
        return
    with SlapdServer() as server:
        base = f"ou=people,{server.suffix}"
        admin = ldap3.Connection(
            ldap3.Server(server.url), server.bind_dn, server.password, auto_bind=True
        )
        for person in PEOPLE:  # what the identity system put there
            admin.add(
                f"uid={escape_dn_value(person)},{base}",
                ["top", "person", "organizationalPerson", "inetOrgPerson"],
                {"cn": person.title(), "sn": person.title()},
            )
        admin.unbind()
        run(server.url, server.bind_dn, server.password, base)


if __name__ == "__main__":
    main()
