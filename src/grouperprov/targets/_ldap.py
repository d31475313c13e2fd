"""LdapTarget: groups and people in an LDAP directory, through ldap3 (the ``ldap`` extra)."""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import re
import ssl
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

import attrs
import ldap3
from ldap3.core.exceptions import (
    LDAPCommunicationError,
    LDAPException,
    LDAPObjectClassError,
    LDAPResponseTimeoutError,
    LDAPSocketReceiveError,
)
from ldap3.core.results import RESULT_CODES

from grouperprov import _convert
from grouperprov._beans import (
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    Scalar,
    is_text,
)
from grouperprov._closing import Closing
from grouperprov._config import ObjectType
from grouperprov._config_check import type_problems
from grouperprov._ldap_escape import canonical_dn, escape_dn_value, split_dn
from grouperprov._liveness import closed_by_peer
from grouperprov._memo import Memo
from grouperprov._sources import TranslationContext
from grouperprov._target import (
    AttributeChange,
    Capabilities,
    ChangeOp,
    Operation,
    TargetDAO,
    WriteOutcome,
    applied,
)
from grouperprov.exceptions import ConfigError, ConfigProblem, TargetUnavailable
from grouperprov.targets._ldap_wire import (
    SEARCH_DONE,
    SEARCH_ENTRY,
    SEARCH_REFERENCE,
    LdapProtocolError,
    MessageReader,
    SearchDone,
    add_request,
    all_of,
    any_of,
    equal,
    search_done,
    search_entry,
    search_request,
    wire_value,
)
from grouperprov.targets._reconnect import reconnecting

__all__ = ["DnStyle", "LdapEntities", "LdapGroups", "LdapTarget"]

log = logging.getLogger("grouperprov.targets.ldap")

Owner = ProvisioningGroup | ProvisioningEntity
_OwnerT = TypeVar("_OwnerT", bound=ProvisioningGroup | ProvisioningEntity)
_R = TypeVar("_R")
# What a dropped connection raises: a socket error, the server's end of the
# session, or no answer in time (a pipelined add's, whose receiver saw the end).
_LOST = (LDAPCommunicationError, LDAPResponseTimeoutError)

_GROUP_OPS = {op for op in Operation if "group" in op.value and "membership" not in op.value}
_ENTITY_OPS = {op for op in Operation if "entit" in op.value and "membership" not in op.value}
_NO_SUCH_OBJECT = 32
_INVALID_DN_SYNTAX = 34
# timeLimitExceeded, sizeLimitExceeded, adminLimitExceeded: the bind's limits.
_LIMITS = frozenset({3, 4, 11})
_NO_SUCH_ATTRIBUTE = 16
_TYPE_OR_VALUE_EXISTS = 20
_OBJECT_CLASS_VIOLATION = 65
_NOT_ALLOWED_ON_NON_LEAF = 66
# What the directory answers for a value it will not take (its syntax, a
# constraint): the value's own failure, not the entry's.
_VALUE_REFUSED = frozenset({19, 21})  # constraintViolation, invalidAttributeSyntax
# Active Directory's answers for a member (a linked attribute's value) already
# there, and already gone; checked with a compare, as they mean more besides.
_ENTRY_ALREADY_EXISTS, _UNWILLING_TO_PERFORM = 68, 53
_COMPARE_FALSE, _COMPARE_TRUE = 5, 6
# Adds that fail for a value (Active Directory: a member DN that names no
# entry, noSuchObject) are sent again without the values, then one by one.
_ADD_REFUSED = _VALUE_REFUSED | {_NO_SUCH_OBJECT}
# A chunk's failures that its values are sent again one by one for.
_ONE_BY_ONE = {
    ldap3.MODIFY_ADD: {_TYPE_OR_VALUE_EXISTS, _ENTRY_ALREADY_EXISTS, *_ADD_REFUSED},
    ldap3.MODIFY_DELETE: {_NO_SUCH_ATTRIBUTE, _UNWILLING_TO_PERFORM},
}
_FILTER_VALUES = 100  # values per OR filter
_BASE, _SUBTREE = 0, 2  # search scopes
# The syntaxes whose values are read as Python values (as ldap3 formats them).
_INTEGER_SYNTAX = "1.3.6.1.4.1.1466.115.121.1.27"
_BOOLEAN_SYNTAX = "1.3.6.1.4.1.1466.115.121.1.7"


# What ldap3 raises for a request it refuses to send, having checked it against
# the directory's schema (an unknown attribute or object class): that object's
# failure, not the batch's. A lost connection raises other LDAPExceptions.
_UNSENT = (ValueError, LDAPObjectClassError)


class DnStyle(enum.StrEnum):
    """Where groups live under the base DN."""

    FLAT = "flat"
    """All groups directly under the base, as ``cn=<name>,<base>``."""
    BUSHY = "bushy"
    """Grouper's folders become OUs, so ``a:b:c`` is ``cn=c,ou=b,ou=a,<base>``."""


def _dn_style(value: DnStyle | str) -> DnStyle:
    # Given as text ("bushy"), the style was no member: groups went flat,
    # silently, with their folders' path attribute set.
    return DnStyle(value)


@attrs.frozen(kw_only=True)
class LdapGroups:
    r"""Where and how groups are kept in the directory.

    Attributes:
        base_dn: The branch that holds the groups (and only grouperprov's).
        object_classes: The classes of a new group entry.
        rdn_attribute: The attribute of a group's RDN (``cn``).
        dn_style: Flat (every group under :attr:`base_dn`) or bushy (folders
            become OUs, created and removed as needed).
        path_attribute: Bushy only (refused with a flat DN): the translated
            attribute that holds the group's full Grouper name (``a:b:c``); it
            is not written to the directory but read back from the DN, and a
            change of it moves the entry (modify DN).
        member_attribute: The multi-valued attribute that holds members
            (``member``, ``uniqueMember``, ``memberUid``), for the
            ``group_attributes`` membership type; ``None``: none.
        placeholder: A value kept in :attr:`member_attribute` while a group
            has no member, for classes that require one (``groupOfNames``);
            never shown to the engine.
        attributes: Further attributes to read and write (``description``, ...).
        multi_valued: Attributes always read as sets (the member attribute is).
        dn_attributes: Attributes whose values are DNs: read back in the
            canonical escaping (directories may write ``\2C`` for ``\,``).
        folder_object_classes: The classes of a folder's OU (bushy).
        auxiliary_classes: Auxiliary classes the written attributes need,
            given to new entries and added to an existing entry that lacks
            them when it refuses a write for want of one (see
            :attr:`LdapEntities.auxiliary_classes`).
    """

    base_dn: str
    object_classes: tuple[str, ...] = attrs.field(
        default=("top", "groupOfNames"), converter=_convert.names
    )
    rdn_attribute: str = "cn"
    dn_style: DnStyle = attrs.field(default=DnStyle.FLAT, converter=_dn_style)
    path_attribute: str | None = None
    member_attribute: str | None = "member"
    placeholder: str | None = None
    attributes: tuple[str, ...] = attrs.field(default=(), converter=_convert.names)
    multi_valued: tuple[str, ...] = attrs.field(default=(), converter=_convert.names)
    dn_attributes: tuple[str, ...] = attrs.field(
        default=("member", "uniqueMember", "owner"), converter=_convert.names
    )
    folder_object_classes: tuple[str, ...] = attrs.field(
        default=("top", "organizationalUnit"), converter=_convert.names
    )
    auxiliary_classes: tuple[str, ...] = attrs.field(default=(), converter=_convert.names)


@attrs.frozen(kw_only=True)
class LdapEntities:
    """Where and how people (entities) are kept in the directory.

    Attributes:
        base_dn: The branch that holds them.
        object_classes: The classes of a new entry.
        rdn_attribute: The attribute of an entry's RDN (``uid``).
        attributes: Further attributes to read and write (``cn``, ``sn``,
            ``mail``, and for ``entity_attributes`` the membership attribute,
            ``eduPersonEntitlement`` or ``isMemberOf``).
        multi_valued: Attributes always read as sets (the membership attribute).
        dn_attributes: Attributes whose values are DNs (read back canonically).
        auxiliary_classes: Auxiliary classes the written attributes need
            (``eduPerson`` for ``eduPersonEntitlement``). New entries get
            them; an existing entry (from the identity system) that refuses
            a write for want of one (``objectClassViolation``) is given the
            classes it lacks and the write is sent again. Reads do not ask
            for them: people without them are read too.
    """

    base_dn: str
    object_classes: tuple[str, ...] = attrs.field(
        default=("top", "person", "organizationalPerson", "inetOrgPerson"), converter=_convert.names
    )
    rdn_attribute: str = "uid"
    attributes: tuple[str, ...] = attrs.field(default=(), converter=_convert.names)
    multi_valued: tuple[str, ...] = attrs.field(default=(), converter=_convert.names)
    dn_attributes: tuple[str, ...] = attrs.field(default=("manager",), converter=_convert.names)
    auxiliary_classes: tuple[str, ...] = attrs.field(default=(), converter=_convert.names)


class LdapTarget(Closing, TargetDAO):
    """A target DAO over an LDAP directory: groups and people as entries.

    Target ids are DNs. A group's DN comes from its RDN attribute (flat) or its
    full Grouper name (bushy), each value escaped as RFC 4514 says; search
    filters escape their values as RFC 4515 says, so a group named
    ``a,b+c*)(uid=*`` is one entry and widens no search. Reads are paged
    searches; member additions and removals are value adds and deletes in
    chunks of *chunk_size*, never a replace of the whole list. Membership
    objects are not an LDAP shape: the target declares no membership
    operation, and a provisioner configured with ``membership_objects`` is
    refused when its behaviour is computed.

    The password is never logged, shown in the repr, or passed to diagnostics.

    Args:
        url: ``ldap://host:port`` or ``ldaps://host:port``; several,
            separated by spaces, are tried in that order at each connect
            (the first that answers serves, as Grouper's own LDAP settings
            have it).
        bind_dn: Who binds (``None``: anonymously).
        password: The bind password.
        groups: Where groups are (``None``: no groups).
        entities: Where people are (``None``: no entities).
        start_tls: Upgrade an ``ldap://`` connection with StartTLS before binding.
        ca_file: The CA certificates to check the server's against (TLS).
        page_size: Entries per page of a paged search.
        chunk_size: Values per modify of a multi-valued attribute.
        timeout: Seconds to wait for the server to answer.
        pipeline: Adds sent ahead of their answers, on a second connection
            (the directory works on one while the next is encoded, as
            ``ldapadd`` cannot); ``1`` waits for each answer before the next.
    """

    def __init__(  # the settings of one directory
        self,
        url: str,
        *,
        bind_dn: str | None = None,
        password: str | None = None,
        groups: LdapGroups | None = None,
        entities: LdapEntities | None = None,
        start_tls: bool = False,
        ca_file: str | None = None,
        page_size: int = 500,
        chunk_size: int = 500,
        timeout: float = 30.0,
        pipeline: int = 64,
    ) -> None:
        problems = list(_problems(url, groups, entities, start_tls=start_tls))
        # start_tls="false" (from an environment variable) asked for the StartTLS
        # it meant to turn off; a page size as text failed deep in a search.
        problems += type_problems(
            {
                "start_tls": ("flag", start_tls),
                "page_size": ("whole", page_size),
                "chunk_size": ("whole", chunk_size),
                "timeout": ("seconds", timeout),
                "pipeline": ("whole", pipeline),
            }
        )
        problems += _ca_problems(ca_file)
        if problems:
            raise ConfigError(problems)
        self.url = url
        self.urls = _urls(url)[0]
        # Base DNs in the one escaping grouperprov writes (no spaces after commas...),
        # so the DNs it builds and those it reads back compare equal; so is the
        # placeholder, which a read takes out of the members.
        self.groups = groups and attrs.evolve(
            groups,
            base_dn=canonical_dn(groups.base_dn),
            placeholder=None if groups.placeholder is None else _canonical(groups.placeholder),
        )
        self.entities = entities and attrs.evolve(entities, base_dn=canonical_dn(entities.base_dn))
        self._page = max(1, page_size)
        self._chunk = max(1, chunk_size)
        tls = (
            ldap3.Tls(ca_certs_file=ca_file, validate=ssl.CERT_REQUIRED)
            if ca_file or start_tls or any(u.startswith("ldaps://") for u in self.urls)
            else None
        )

        def connect(strategy: Literal["SYNC", "ASYNC"], first: str | None = None) -> Any:  # noqa: ANN401  # the stubs leave add, modify and delete untyped
            """A bound connection to the first server that answers (*first* tried first)."""
            failures: list[tuple[str, Exception]] = []
            for one in sorted(self.urls, key=lambda u: u != first):  # stable: in order
                # A new Server each time: ldap3's marks an address it failed to
                # reach unusable for five minutes, which would outlast a restart.
                server = ldap3.Server(
                    one, use_ssl=one.startswith("ldaps://"), tls=tls, connect_timeout=int(timeout)
                )
                conn = ldap3.Connection(
                    server,
                    user=bind_dn,
                    password=password,
                    auto_bind=ldap3.AUTO_BIND_NONE,  # below, to close what a failure leaves open
                    # Answers to pipelined adds are awaited with a timeout of their
                    # own: ldap3's receiving thread spins after an unbind when its
                    # connection has a receive timeout.
                    receive_timeout=int(timeout) if strategy == ldap3.SYNC else None,
                    raise_exceptions=False,
                    client_strategy=strategy,
                )
                try:
                    _open_and_bind(conn, start_tls=start_tls)
                except (LDAPException, _Refused) as exc:
                    _close(conn)
                    failures.append((one, exc))
                    continue
                self._server = one
                return conn
            # ldap3's messages carry no password; the URLs say which directories.
            how = " with StartTLS" if start_tls else ""
            who = bind_dn or "anonymous"
            if len(failures) == 1:
                where, error = failures[0]
                msg = f"cannot connect to {where}{how} as {who}: {_reason(error)}"
            else:
                reasons = "; ".join(f"{where}: {_reason(error)}" for where, error in failures)
                msg = f"cannot connect to any of {len(failures)} servers{how} as {who}: {reasons}"
            raise TargetUnavailable(msg) from failures[-1][1]

        self._connect = connect  # the password stays in this closure, out of the repr
        self._timeout = timeout
        self._window = max(1, pipeline)
        self._server = self.urls[0]  # the server of the main connection, once connected
        self._conn: Any = connect(ldap3.SYNC)
        schema = self._schema
        problems = list(_schema_problems(schema, self.groups, self.entities))
        if problems:
            _close(self._conn)
            raise ConfigError(problems)
        self._pipe: Any = None  # the connection of pipelined adds, opened when first needed
        # OUs known to exist (bushy), within one write call: the directory is
        # not this process's alone, and an OU removed meanwhile (by hand, by
        # another process) would refuse every add under it.
        # The bushy folders' OUs there, in this write call: by their DN without case, as kept.
        self._folders: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"LdapTarget(url={self.url!r})"  # never the bind DN's password

    def close(self) -> None:
        """Unbind from the directory."""
        self._conn.unbind()
        if self._pipe is not None:
            self._pipe.unbind()
            self._pipe = None

    def capabilities(self) -> Capabilities:
        """The operations of what is configured; value adds and removes supported.

        The attributes kept are the RDN attribute, ``attributes=``, the
        member attribute and a bushy target's ``path_attribute`` (in the DN);
        those the directory's schema marks ``NO-USER-MODIFICATION``
        (``memberOf``, ``entryUUID``) are only read.
        The ``dn_attributes`` and the ``path_attribute`` compare ignoring
        case, as the directory compares DNs: its folders ``a:Dept`` and
        ``a:dept`` are one OU.
        """
        caps = Capabilities.of(self)
        missing: set[Operation] = set()
        kept: dict[ObjectType, frozenset[str]] = {}
        # What the directory maintains itself (NO-USER-MODIFICATION in its
        # schema: memberOf, entryUUID): read, never written.
        types = getattr(self._schema, "attribute_types", None) or {}
        fixed: dict[ObjectType, frozenset[str]] = {}
        # DNs compare ignoring case (distinguishedNameMatch, over names that
        # match ignoring case): a member another tool wrote as "UID=Ann,..." is
        # the one the sync writes as "uid=ann,...", and the directory says so.
        dns: dict[ObjectType, frozenset[str]] = {}
        for object_type, settings, ops in (
            (ObjectType.GROUP, self.groups, _GROUP_OPS),
            (ObjectType.ENTITY, self.entities, _ENTITY_OPS),
        ):
            if settings is None:
                missing |= ops
                continue
            names = frozenset(self._names(settings))
            path = settings.path_attribute if isinstance(settings, LdapGroups) else None
            kept[object_type] = names | {path} if path else names
            dns[object_type] = frozenset(settings.dn_attributes) | ({path} if path else set())
            maintained = [
                n
                for n in names
                if getattr(types.get(n), "no_user_modification", False) or n.lower() in _BINARY_IDS
            ]
            if maintained:
                fixed[object_type] = frozenset(maintained)
        return Capabilities(caps.operations - missing, {}, caps.value_changes, kept, dns, fixed)

    # -- plumbing ---------------------------------------------------------------

    @property
    def _schema(self) -> Any:  # noqa: ANN401  # ldap3's SchemaInfo
        """The directory's schema as ldap3 read it at the bind; ``None`` if it shows none."""
        return getattr(self._conn.server, "schema", None)

    def _guarded(self, what: str, run: Callable[[], _R], *, retry: bool) -> _R:
        """Run *run*, connecting again where the directory dropped the connection.

        A connection ldap3 knows is closed is opened again before *run*; one
        lost during it is handled as :func:`._reconnect.reconnecting` says.
        """
        self._revive()
        return reconnecting(
            what,
            run,
            retry=retry,
            lost=lambda exc: _reason(exc) if isinstance(exc, _LOST) else None,
            reconnect=lambda _what, _reason: self._reconnect(),
            where=self._server,
            log=log,
        )

    def _revive(self) -> None:
        """Open again what the directory closed while it was idle.

        ldap3 learns of the end of a connection only by using it; the main
        connection is also looked at without a round trip: nothing is asked
        between operations, so a socket with something to read was closed by
        the directory (a restart, an idle timeout, its notice of
        disconnection). The pipelined connection's socket is ldap3's
        receiving thread's to read: what ldap3 knows of it is used.
        """
        if self._conn.closed or closed_by_peer(self._conn.socket.fileno()):
            self._reconnect()
        elif self._pipe is not None and self._pipe.closed:
            _close(self._pipe)
            self._pipe = None

    def _reconnect(self) -> None:
        """A new main connection (TargetUnavailable if there is none to be had)."""
        _close(self._conn)
        if self._pipe is not None:
            _close(self._pipe)  # the same directory dropped it too, or soon will
            self._pipe = None
        self._conn = self._connect(ldap3.SYNC, self._server)
        log.info("connected to %s again", self._server)

    def _settings(self, kind: type[Owner | _OwnerT]) -> LdapGroups | LdapEntities:
        settings = self.groups if kind is ProvisioningGroup else self.entities
        if settings is None:  # pragma: no cover  # capabilities leave these operations out
            msg = "this LdapTarget holds no such objects"
            raise NotImplementedError(msg)
        return settings

    def _failure(self, what: str, result: Mapping[str, Any] | None = None) -> WriteOutcome:
        result = result if result is not None else (self._conn.result or {})
        return WriteOutcome.failure(
            f"{what}: {result.get('description', 'failed')} "
            f"({result.get('result')}): {result.get('message', '')}".rstrip(": ")
        )

    def _code(self) -> int:
        return int((self._conn.result or {}).get("result", -1))

    def _names(self, settings: LdapGroups | LdapEntities) -> list[str]:
        names = [settings.rdn_attribute, *settings.attributes]
        if isinstance(settings, LdapGroups) and settings.member_attribute:
            names.append(settings.member_attribute)
        return list(dict.fromkeys(names))

    def _readers(
        self, settings: LdapGroups | LdapEntities
    ) -> dict[bytes, tuple[str, Callable[[bytes], Scalar], bool]]:
        """Per attribute name as the directory may spell it (lower case): how to read its values.

        (the name as configured, the values' decoder, whether it is always a
        set). DN attributes are decoded into the canonical escaping, once per
        distinct value of a search (a member is in many groups); the rest as
        the directory's schema says their syntax is (integers and booleans
        as such, as ldap3 formats them), else as text.
        """
        schema = self._schema
        multi = {n.lower() for n in settings.multi_valued}
        member = settings.member_attribute if isinstance(settings, LdapGroups) else None
        if member:
            multi.add(member.lower())
        dns = {n.lower() for n in settings.dn_attributes}
        canonical = Memo(lambda raw: _canonical(_text(raw)))
        readers: dict[bytes, tuple[str, Callable[[bytes], Scalar], bool]] = {}
        placeholder = settings.placeholder if isinstance(settings, LdapGroups) else None
        for name in self._names(settings):
            lower = name.lower()
            decode = canonical.__getitem__ if lower in dns else _decoder(schema, name)
            if placeholder is not None and lower in dns and lower == (member or "").lower():
                decode = _placeholder_reader(placeholder, canonical)
            readers[lower.encode()] = (name, decode, lower in multi)
        return readers

    def _bean(
        self,
        kind: type[_OwnerT],
        settings: LdapGroups | LdapEntities,
        dn: bytes,
        entry: list[tuple[bytes, list[bytes]]],
        readers: Mapping[bytes, tuple[str, Callable[[bytes], Scalar], bool]],
    ) -> _OwnerT | None:
        """The bean of one entry, as :func:`._ldap_wire.search_entry` gives it.

        ``None`` when a read attribute came in ranges (Active Directory's
        range retrieval): the rest of its values must be read first
        (:meth:`_whole`).
        """
        found: dict[str, AttributeValue] = {}
        for raw_name, raw in entry:
            reader = readers.get(raw_name.lower())
            if reader is None:
                if _ranged(dn, raw_name, readers) is not None:
                    return None
                continue  # another attribute, or this one with another option
            if not raw:
                continue
            name, decode, multi = reader
            items = list(map(decode, raw))
            found[name] = frozenset(items) if multi or len(items) > 1 else items[0]
        placeholder = settings.placeholder if isinstance(settings, LdapGroups) else None
        member = settings.member_attribute if isinstance(settings, LdapGroups) else None
        if member and placeholder is not None:
            members = found.get(member)
            if isinstance(members, frozenset) and placeholder in members:
                if len(members) == 1:
                    del found[member]
                else:
                    found[member] = members - {placeholder}
        # The configured order (the readers'), as the directory's may be any.
        values = {name: found[name] for name, _, _ in readers.values() if name in found}
        text = _rebased(_canonical(_text(dn)), settings.base_dn)
        if isinstance(settings, LdapGroups) and settings.path_attribute:
            values[settings.path_attribute] = self._path(settings, text)
        return kind(id=text, attributes=values)

    def _path(self, settings: LdapGroups, dn: str) -> str:
        rdns = split_dn(dn)
        base = len(split_dn(settings.base_dn))
        return ":".join(rdn[0][1] for rdn in reversed(rdns[: len(rdns) - base]))

    def _search(
        self,
        kind: type[_OwnerT],
        ldap_filter: bytes,
        base: str | None = None,
        scope: int = _SUBTREE,
    ) -> list[_OwnerT]:
        where = base or self._settings(kind).base_dn
        return self._guarded(
            f"search of {where!r}",
            lambda: self._search_once(kind, ldap_filter, where, scope),
            retry=True,
        )

    def _search_once(
        self, kind: type[_OwnerT], ldap_filter: bytes, where: str, scope: int
    ) -> list[_OwnerT]:
        """A paged search over the main connection's socket, answers decoded here.

        ldap3 opens, binds and secures the connection; the search itself is
        sent and read here (:mod:`._ldap_wire`), ldap3's decoding of every
        value being most of a read's time. The connection is ldap3's
        synchronous one, which reads only when asked, so nothing else reads
        its socket meanwhile. A failure on the socket, or bytes that are not
        an answer, close it and count as a lost connection (read again once
        on a new one).
        """
        conn = self._conn
        try:
            return self._pages(conn, kind, ldap_filter, where, scope)
        except (OSError, LdapProtocolError) as exc:
            _close(conn)  # what was left unread would be read as the next answers
            raise LDAPSocketReceiveError(f"search of {where!r}: {exc}") from exc

    def _pages(
        self,
        conn: Any,  # noqa: ANN401  # an ldap3 connection
        kind: type[_OwnerT],
        ldap_filter: bytes,
        where: str,
        scope: int,
    ) -> list[_OwnerT]:
        """:meth:`_search_once`'s pages, one request and its answers at a time."""
        settings = self._settings(kind)
        names = self._names(settings)
        readers = self._readers(settings)
        sock = conn.socket
        reader = MessageReader(sock.recv)
        found: list[_OwnerT] = []
        # Entries with values in ranges, read whole once the pages are done.
        ranged: list[tuple[bytes, list[tuple[bytes, list[bytes]]]]] = []

        def take(dn: bytes, entry: list[tuple[bytes, list[bytes]]]) -> None:
            bean = self._bean(kind, settings, dn, entry, readers)
            if bean is None:
                ranged.append((dn, entry))
            else:
                found.append(bean)

        cookie = b""
        while True:
            message_id = int(conn.server.next_message_id())
            sock.sendall(
                search_request(
                    message_id,
                    where,
                    scope,
                    ldap_filter,
                    names,
                    page_size=self._page,
                    cookie=cookie,
                )
            )
            done = _answers(reader, message_id, take)
            if done.code == _NO_SUCH_OBJECT and scope != _BASE:
                # Not "no groups": every entry the sync adds under it would be refused.
                side = "groups" if kind is ProvisioningGroup else "entities"
                raise ConfigError([_missing_base(side, where)])
            # Looking one DN up: no such entry (or no such DN) is none found.
            if done.code not in {0, _NO_SUCH_OBJECT} and not (
                scope == _BASE and done.code == _INVALID_DN_SYNTAX
            ):
                # The sync must not go on from part of the entries.
                raise TargetUnavailable(_search_failure(where, done.code, done.message, len(found)))
            if not done.cookie:
                break
            cookie = done.cookie
        for dn, entry in ranged:
            whole = self._whole(conn, reader, kind, dn, entry, readers)
            if whole is not None:  # else deleted meanwhile
                bean = self._bean(kind, settings, dn, whole, readers)
                assert bean is not None  # noqa: S101  # whole: no ranges left
                found.append(bean)
        return found

    def _whole(  # noqa: PLR0917  # a search's parts
        self,
        conn: Any,  # noqa: ANN401  # an ldap3 connection
        reader: MessageReader,
        kind: type[_OwnerT],
        dn: bytes,
        entry: list[tuple[bytes, list[bytes]]],
        readers: Mapping[bytes, tuple[str, Callable[[bytes], Scalar], bool]],
    ) -> list[tuple[bytes, list[bytes]]] | None:
        """*entry* with each attribute sent in ranges read whole; ``None`` if it is gone.

        Active Directory sends an attribute with more values than its
        ``MaxValRange`` (1,500 by default) as ``member;range=0-1499``; the
        rest is asked for as ``member;range=1500-*``, one base search at a
        time, until a range ends in ``*``. A range that does not start where
        the values read so far end, or whose end does not match its values,
        is an answer the read cannot trust: the search fails (as a lost
        connection) rather than read a group without part of its members.
        """
        whole: list[tuple[bytes, list[bytes]]] = []
        for first_name, first in entry:
            part = _ranged(dn, first_name, readers)
            if part is None:
                whole.append((first_name, first))
                continue
            name, low, high = part
            raw_name, raw = first_name, first
            values: list[bytes] = []
            while True:
                if low != len(values) or (high is not None and high != low + len(raw) - 1):
                    msg = (
                        f"{_text(dn)}: {_text(raw_name)!r} is not the range of "
                        f"{len(raw)} values that follows the {len(values)} read"
                    )
                    raise LdapProtocolError(msg)
                values += raw
                if high is None:  # the last range
                    break
                ask = f"{_text(name)};range={len(values)}-*"
                more = self._range_read(conn, reader, kind, dn, ask)
                if more is None:
                    return None
                following = _range_in(dn, name, ask, more, readers)
                if following is None:  # fewer values now, none from len(values) on
                    break
                raw_name, raw, low, high = following
            whole.append((name, values))
        return whole

    def _range_read(
        self,
        conn: Any,  # noqa: ANN401  # an ldap3 connection
        reader: MessageReader,
        kind: type[_OwnerT],
        dn: bytes,
        attribute: str,
    ) -> list[tuple[bytes, list[bytes]]] | None:
        """The attributes one entry sends for *attribute*; ``None`` if the entry is gone."""
        message_id = int(conn.server.next_message_id())
        where = _text(dn)
        conn.socket.sendall(
            search_request(
                message_id,
                where,
                _BASE,
                self._class_filter(self._settings(kind)),
                [attribute],
                page_size=self._page,
            )
        )
        entries: list[list[tuple[bytes, list[bytes]]]] = []
        done = _answers(reader, message_id, lambda _, entry: entries.append(entry))
        if done.code == _NO_SUCH_OBJECT or (done.code == 0 and not entries):
            return None  # deleted, or no longer of the class, since the search
        if done.code != 0:
            raise TargetUnavailable(_search_failure(where, done.code, done.message, 0))
        return entries[0]

    def _class_filter(self, settings: LdapGroups | LdapEntities) -> bytes:
        return equal("objectClass", settings.object_classes[-1])

    # -- reads ------------------------------------------------------------------

    def retrieve_all_groups(self) -> list[ProvisioningGroup]:
        """Every group entry under the base DN (a paged search)."""
        settings = self._settings(ProvisioningGroup)
        return sorted(self._search(ProvisioningGroup, self._class_filter(settings)), key=_id)

    def retrieve_all_entities(self) -> list[ProvisioningEntity]:
        """Every person entry under the base DN (a paged search)."""
        settings = self._settings(ProvisioningEntity)
        return sorted(self._search(ProvisioningEntity, self._class_filter(settings)), key=_id)

    def _by_dns(self, kind: type[_OwnerT], ids: Collection[str]) -> list[_OwnerT]:
        settings = self._settings(kind)
        found: list[_OwnerT] = []
        for dn in sorted(set(ids)):
            if is_text(dn):  # else no entry has it, and sent, it failed the read
                found += self._search(kind, self._class_filter(settings), base=dn, scope=_BASE)
        return sorted(found, key=_id)

    def retrieve_groups(self, ids: Collection[str]) -> list[ProvisioningGroup]:
        """The group entries with these DNs."""
        return self._by_dns(ProvisioningGroup, ids)

    def retrieve_entities(self, ids: Collection[str]) -> list[ProvisioningEntity]:
        """The person entries with these DNs."""
        return self._by_dns(ProvisioningEntity, ids)

    def _find(
        self, kind: type[_OwnerT], attribute: str, values: Collection[Scalar]
    ) -> list[_OwnerT]:
        settings = self._settings(kind)
        # A value with a lone surrogate (not UTF-8 text) is in no entry; sent, it failed the read.
        wanted = sorted({text for v in values if is_text(text := str(v))})
        if isinstance(settings, LdapGroups) and attribute == settings.path_attribute:
            return self._by_dns(kind, [self._group_dn(settings, {attribute: v}) for v in wanted])
        binary = _BINARY_IDS.get(attribute.lower())
        sought: list[str | bytes] = list(wanted)
        if binary is not None:
            # Searched for as the bytes the directory keeps; a value of no such form is in no entry.
            sought = sorted({raw for v in wanted if (raw := binary[1](v)) is not None})
        found: dict[str, _OwnerT] = {}
        for start in range(0, len(sought), _FILTER_VALUES):
            chunk = sought[start : start + _FILTER_VALUES]
            ldap_filter = all_of(
                self._class_filter(settings), any_of(*(equal(attribute, v) for v in chunk))
            )
            found.update((b.id, b) for b in self._search(kind, ldap_filter))
        return [found[k] for k in sorted(found)]

    def search_groups(self, attribute: str, values: Collection[Scalar]) -> list[ProvisioningGroup]:
        """The groups whose *attribute* has one of *values* (escaped filters, paged)."""
        return self._find(ProvisioningGroup, attribute, values)

    def search_entities(
        self, attribute: str, values: Collection[Scalar]
    ) -> list[ProvisioningEntity]:
        """The people whose *attribute* has one of *values*."""
        return self._find(ProvisioningEntity, attribute, values)

    def subject_dn(
        self, attribute: str, *, field: str = "subject_id"
    ) -> Callable[[TranslationContext], str | None]:
        """A subject link function: the DN of the person whose *attribute* is the subject's *field*.

        For a directory whose people's DNs no template makes (Active
        Directory's ``CN=Ada Lovelace,OU=People,...``): give it as
        ``[subject_link] function`` and write members with ``field =
        "subject_link"``. Each subject is looked up once (a search under the
        entities' base DN, its value escaped), and the DN is kept in its sync
        record. No such person is no link (the subject's memberships wait
        for one, and it is asked again next run); two or more is the
        subject's ``ERR``, naming them.

        Args:
            attribute: The people's attribute to look the subject up by
                (``sAMAccountName``, ``uid``, ``mail``).
            field: The Grouper entity field whose value it holds.

        Raises:
            ConfigError: The target has no ``entities`` settings (where the
                people are), *attribute* or *field* is not a name, or the
                directory's schema has no *attribute* (a misspelt one would
                find nobody, and every member would wait for a link).
        """
        given: tuple[object, object] = (attribute, field)  # whatever was passed
        problems = [
            ConfigProblem(f"subject_dn.{path}", f"expected a name, not {value!r}")
            for path, value in zip(("attribute", "field"), given, strict=True)
            if not isinstance(value, str) or not value.strip()
        ]
        if self.entities is None:
            msg = "subject_dn looks people up under the entities' base DN: give entities="
            problems.append(ConfigProblem("entities", msg))
        types = getattr(self._schema, "attribute_types", None)
        if not problems and types and attribute not in types:
            msg = f"{attribute!r} is not an attribute type of the directory's schema"
            problems.append(ConfigProblem("subject_dn.attribute", msg))
        if problems:
            raise ConfigError(problems)

        def subject_dn(context: TranslationContext) -> str | None:
            value = context.field(field)
            if isinstance(value, frozenset):
                if len(value) > 1:
                    msg = f"{field} has {len(value)} values; one is looked up"
                    raise ValueError(msg)
                value = next(iter(value), None)
            if value is None or value == "":
                return None
            found = self.search_entities(attribute, [value])
            if len(found) > 1:
                msg = f"{len(found)} people have {attribute}={value!r}: " + ", ".join(
                    p.id for p in found
                )
                raise LookupError(msg)
            return found[0].id if found else None

        return subject_dn

    # -- DNs --------------------------------------------------------------------

    def _group_dn(self, settings: LdapGroups, values: Mapping[str, AttributeValue]) -> str:
        if settings.dn_style is DnStyle.BUSHY:
            path = _single(values.get(settings.path_attribute or ""))
            if not path:
                msg = f"no single value of {settings.path_attribute!r} to make the DN"
                raise ValueError(msg)
            *folders, leaf = str(path).split(":")
            named = _single(values.get(settings.rdn_attribute))
            if isinstance(named, str) and named.casefold() == leaf.casefold():
                leaf = named  # the RDN attribute's case: a rename in case alone moves it
            rdns = [f"{settings.rdn_attribute}={escape_dn_value(leaf)}"]
            rdns += [f"ou={escape_dn_value(f)}" for f in reversed(folders)]
            return ",".join([*rdns, settings.base_dn])
        return self._flat_dn(settings, values)

    def _flat_dn(
        self, settings: LdapGroups | LdapEntities, values: Mapping[str, AttributeValue]
    ) -> str:
        rdn = _single(values.get(settings.rdn_attribute))
        if rdn is None or rdn == "":
            msg = f"no single value of {settings.rdn_attribute!r} to make the DN"
            raise ValueError(msg)
        return f"{settings.rdn_attribute}={escape_dn_value(str(rdn))},{settings.base_dn}"

    def _dn(self, kind: type[Owner | _OwnerT], values: Mapping[str, AttributeValue]) -> str:
        settings = self._settings(kind)
        if isinstance(settings, LdapGroups):
            return self._group_dn(settings, values)
        return self._flat_dn(settings, values)

    def _writing(self, write: Callable[[], _R]) -> _R:
        """Run one write call with a fresh memory of the OUs that exist."""
        self._folders.clear()
        try:
            return write()
        finally:
            self._folders.clear()

    def _ensure_folders(self, settings: LdapGroups, dn: str) -> str:
        """Create the OUs above a bushy group's DN that are not there yet; *dn* as it will be.

        An OU that is there may be written in another case than *dn* writes
        it (Grouper's folders ``a:Y`` and ``a:y`` are one OU): the directory
        names the entries under it with its own, which a base read of it
        gives (once per OU and write call), so the DN given back, which the
        records keep as the group's link, is the one the directory will
        give when it is read. Before, such a group's record held the DN as
        built, and the next sync wrote it again as read.
        """
        parents = _parents(settings, dn)
        if not parents:
            return dn
        above = settings.base_dn
        for parent in reversed(parents):
            key = parent.casefold()
            kept = self._folders.get(key)
            if kept is None:
                here = f"{_split_first(parent)[0]},{above}"
                ou = split_dn(here)[0][0][1]
                try:
                    ok = self._conn.add(here, list(settings.folder_object_classes), {"ou": ou})
                except _UNSENT as exc:  # ldap3 checks the request against the schema first
                    msg = f"could not create the folder {parent!r}: {exc}"
                    raise RuntimeError(msg) from None
                if ok:
                    kept = here
                elif self._code() == _ENTRY_ALREADY_EXISTS:
                    kept = self._kept_dn(settings, here)
                else:
                    msg = f"could not create the folder {parent!r}: {self._conn.result}"
                    raise RuntimeError(msg)
                self._folders[key] = kept
            above = kept
        return f"{_split_first(dn)[0]},{above}"

    def _kept_dn(self, settings: LdapGroups, dn: str) -> str:
        """*dn* as the directory keeps it (its case; the base DN as configured)."""
        kept = self._entry_dn(dn)
        if kept is None:
            return dn  # gone meanwhile: the add under it says so
        return _rebased(_canonical(kept), settings.base_dn)

    def _prune_folders(self, settings: LdapGroups, dn: str) -> None:
        """Remove the OUs above a deleted bushy group that are empty now."""
        for parent in _parents(settings, dn):
            if not self._conn.delete(parent):
                break  # not empty (notAllowedOnNonLeaf), or gone
            self._folders.pop(parent.casefold(), None)

    # -- writes -----------------------------------------------------------------

    def _insert(self, kind: type[_OwnerT], beans: Sequence[_OwnerT]) -> list[WriteOutcome]:
        settings = self._settings(kind)
        classes = _classes(settings)
        outcomes: list[WriteOutcome | None] = []
        # Adds sent and not answered yet: (place in outcomes, message id, DN, bean).
        pending: collections.deque[tuple[int, int, str, _OwnerT]] = collections.deque()

        def settle() -> None:
            place, message, dn, bean = pending.popleft()
            _, result = self._pipe.get_response(message, timeout=self._timeout)
            outcomes[place] = (
                WriteOutcome.success(kind(id=dn, attributes=bean.attributes))
                if result["result"] == 0
                else self._add_by_values(kind, dn, bean, self._failure(f"add {dn!r}", result))
                if result["result"] in _ADD_REFUSED
                else self._failure(f"add {dn!r}", result)
            )

        for bean in beans:
            try:
                dn = self._dn(kind, bean.attributes)
                attributes = self._entry(settings, bean.attributes)
                if isinstance(settings, LdapGroups) and settings.dn_style is DnStyle.BUSHY:
                    dn = self._ensure_folders(settings, dn)  # answered before the add is sent
            except (ValueError, RuntimeError) as exc:
                outcomes.append(WriteOutcome.failure(str(exc)))
                continue
            try:
                if self._window == 1:
                    ok = self._conn.add(dn, classes, attributes)
                    outcomes.append(
                        WriteOutcome.success(kind(id=dn, attributes=bean.attributes))
                        if ok
                        else self._add_by_values(kind, dn, bean, self._failure(f"add {dn!r}"))
                        if self._code() in _ADD_REFUSED
                        else self._failure(f"add {dn!r}")
                    )
                    continue
                if self._pipe is None:  # on the main connection's server, which it reads
                    main = self._server
                    self._pipe = self._connect(ldap3.ASYNC, main)
                    self._server = main  # (the pipe may have found another)
                message = self._send_add(dn, classes, attributes)
            except _UNSENT as exc:  # ldap3 checks the request against the schema first
                outcomes.append(WriteOutcome.failure(f"add {dn!r}: {exc}"))
                continue
            pending.append((len(outcomes), message, dn, bean))
            outcomes.append(None)
            if len(pending) >= self._window:
                settle()
        while pending:
            settle()
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(outcomes)  # noqa: S101  # every add was answered
        return done

    def _add_by_values(
        self, kind: type[_OwnerT], dn: str, bean: _OwnerT, refused: WriteOutcome
    ) -> WriteOutcome:
        """Add an entry the directory refused for a value: without its values, then one by one.

        The values of the member attribute (groups) or the multi-valued
        attributes (people) go in one at a time after the entry (a group
        holds the placeholder until then); those refused are the outcome's
        failed values, so one member whose value the directory will not take
        does not keep the group and its other members out. *refused* is the
        outcome when the entry is refused without them too.
        """
        settings = self._settings(kind)
        attributes = self._entry(settings, bean.attributes)
        member, placeholder = (
            (settings.member_attribute, settings.placeholder)
            if isinstance(settings, LdapGroups)
            else (None, None)
        )
        wanted = (
            {member.lower()}
            if member
            else {n.lower() for n in getattr(settings, "multi_valued", ())}
        )
        held = {n: attributes.pop(n) for n in list(attributes) if n.lower() in wanted}
        if placeholder is not None and member is not None and member in held:
            attributes[member] = [placeholder]
        held = {n: [v for v in values if v != placeholder] for n, values in held.items()}
        if not any(held.values()) or not self._conn.add(dn, _classes(settings), attributes):
            return refused
        failed: list[tuple[str, Scalar, str]] = []
        for name, values in held.items():
            before = len(failed)
            if not self._one_by_one(dn, name, ldap3.MODIFY_ADD, values, failed):
                return self._failure(f"add {name!r} values of {dn!r}")
            if placeholder is not None and len(failed) - before < len(values):
                self._conn.modify(dn, {name: [(ldap3.MODIFY_DELETE, [placeholder])]})
        refused_values = {(n, v) for n, v, _ in failed}
        kept = {
            n: frozenset(v for v in bean.values(n) if (n, v) not in refused_values) or None
            for n in held
        }
        stored = kind(id=dn, attributes=bean.with_attributes(kept).attributes)
        return (
            WriteOutcome.partial(failed, stored=stored) if failed else WriteOutcome.success(stored)
        )

    def _send_add(self, dn: str, classes: list[str], attributes: dict[str, list[Scalar]]) -> int:
        """Send an add on the pipelined connection; its message id, for ``get_response``.

        The request's bytes are written here (:mod:`._ldap_wire`) and handed
        to ldap3's asynchronous strategy as its own ``add`` would: the id
        registered as outstanding, an event to wait on, then the socket.
        ldap3's receiving thread reads the answer as it reads any other. Where
        that strategy is not the one this was written against, or the
        connection signs its messages (SASL DIGEST-MD5), ldap3 encodes the add.
        """
        pipe = self._pipe
        strategy = pipe.strategy
        if not (_direct_adds(strategy) and pipe.sasl_mechanism is None and pipe.listening):
            return int(pipe.add(dn, classes, attributes))
        entry: dict[str, list[Scalar]] = {"objectClass": list(classes), **attributes}
        message_id = int(pipe.server.next_message_id())
        data = add_request(message_id, dn, entry)
        # What ldap3 keeps of a request it sent: read back for a referral.
        strategy._outstanding[message_id] = {  # noqa: SLF001  # see the docstring
            "type": "addRequest",
            "entry": dn,
            "attributes": entry,
            "controls": None,
        }
        strategy._add_event_for_message(message_id)  # noqa: SLF001  # before the answer can come
        pipe.socket.sendall(data)
        return message_id

    def _entry(
        self, settings: LdapGroups | LdapEntities, values: Mapping[str, AttributeValue]
    ) -> dict[str, list[Scalar]]:
        allowed = {n.lower() for n in self._names(settings)}
        path = settings.path_attribute if isinstance(settings, LdapGroups) else None
        entry: dict[str, list[Scalar]] = {}
        for name, value in values.items():
            if name == path:
                continue  # in the DN only
            if name.lower() not in allowed:
                msg = f"{name!r} is not an attribute this target writes (see attributes=)"
                raise ValueError(msg)
            items = _sent(_items(value))
            if items:
                entry[name] = items
        if isinstance(settings, LdapGroups) and settings.member_attribute:
            member = settings.member_attribute
            if not entry.get(member) and settings.placeholder:
                entry[member] = [settings.placeholder]
        return entry

    def _update(
        self, kind: type[_OwnerT], updates: Sequence[tuple[_OwnerT, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        settings = self._settings(kind)
        outcomes: list[WriteOutcome] = []
        for bean, changes in updates:
            dn = bean.id
            failed: list[tuple[str, Scalar, str]] = []
            try:
                new_dn = self._rename(kind, settings, dn, bean, changes)
                outcome = self._modify(settings, new_dn, changes, failed)
            except (ValueError, RuntimeError) as exc:
                outcomes.append(WriteOutcome.failure(str(exc)))
                continue
            if outcome is not None:
                outcomes.append(outcome)
                continue
            stored = (
                kind(id=new_dn, attributes=applied(bean.attributes, changes))
                if new_dn != bean.id
                else None
            )
            outcomes.append(WriteOutcome.partial(failed, stored=stored))
        return outcomes

    def _rename(
        self,
        kind: type[_OwnerT],
        settings: LdapGroups | LdapEntities,
        dn: str,
        bean: _OwnerT,
        changes: Sequence[AttributeChange],
    ) -> str:
        """Move the entry when its DN's attributes change (modify DN); the DN it has then."""
        names = {settings.rdn_attribute}
        if isinstance(settings, LdapGroups) and settings.dn_style is DnStyle.BUSHY:
            names = {settings.path_attribute or "", settings.rdn_attribute}
        if not any(c.attribute in names for c in changes):
            return dn
        new_dn = self._dn(kind, applied(bean.attributes, changes))
        if _same_place(new_dn, dn):
            return dn
        if isinstance(settings, LdapGroups) and settings.dn_style is DnStyle.BUSHY:
            new_dn = self._ensure_folders(settings, new_dn)
        rdn, _, superior = _split_first(new_dn)
        if not self._conn.modify_dn(dn, rdn, delete_old_dn=True, new_superior=superior):
            msg = f"rename of {dn!r} to {new_dn!r}: {self._conn.result.get('description')}"
            raise RuntimeError(msg)
        if isinstance(settings, LdapGroups) and settings.dn_style is DnStyle.BUSHY:
            self._prune_folders(settings, dn)
        return new_dn

    def _modify(
        self,
        settings: LdapGroups | LdapEntities,
        dn: str,
        changes: Sequence[AttributeChange],
        failed: list[tuple[str, Scalar, str]],
    ) -> WriteOutcome | None:
        """Apply *changes* (the DN's own attributes aside); a failure's outcome, else ``None``.

        Values added and refused for themselves go to *failed* (see :meth:`_one_by_one`).
        """
        rdn_name = settings.rdn_attribute.lower()
        skip = {rdn_name}
        if isinstance(settings, LdapGroups) and settings.path_attribute:
            skip.add(settings.path_attribute.lower())
        allowed = {n.lower() for n in self._names(settings)}
        bushy = isinstance(settings, LdapGroups) and settings.dn_style is DnStyle.BUSHY
        path = settings.path_attribute if isinstance(settings, LdapGroups) else None
        for change in changes:
            name = change.attribute
            if (
                bushy
                and change.op is ChangeOp.REPLACE
                and name.lower() == rdn_name
                and not _keeps_rdn(dn, name, change.value, fold=True)
            ):
                leaf = split_dn(dn)[0][0][1]
                return WriteOutcome.failure(
                    f"{name!r} of {dn!r} would be {change.value!r}; in a bushy DN it is the "
                    f"last part of {path!r} ({leaf!r}), in any case"
                )
            if (
                name.lower() in skip
                and (change.op is ChangeOp.REPLACE or name.lower() != rdn_name)
                and not (name.lower() == rdn_name and _keeps_rdn(dn, name, change.value))
            ):
                continue  # moved with the DN
            if name.lower() not in allowed:
                return WriteOutcome.failure(f"{name!r} is not an attribute this target writes")
            refused = self._change(settings, dn, change, failed)
            if refused is not None:
                return refused
        return None

    def _change(
        self,
        settings: LdapGroups | LdapEntities,
        dn: str,
        change: AttributeChange,
        failed: list[tuple[str, Scalar, str]],
    ) -> WriteOutcome | None:
        name = change.attribute
        placeholder = (
            settings.placeholder
            if isinstance(settings, LdapGroups) and name == settings.member_attribute
            else None
        )
        if change.op is ChangeOp.REPLACE:
            values = _sent(_items(change.value)) or ([placeholder] if placeholder else [])
            if not self._modified(settings, dn, {name: [(ldap3.MODIFY_REPLACE, values)]}):
                return self._refused(settings, f"replace {name!r} of {dn!r}")
            return None
        values = _sent(change.values())
        for chunk in _chunks(values, self._chunk):
            if change.op is ChangeOp.ADD:
                ok = self._modified(settings, dn, {name: [(ldap3.MODIFY_ADD, chunk)]})
                if not ok and self._code() in _ONE_BY_ONE[ldap3.MODIFY_ADD]:
                    before = len(failed)
                    ok = self._one_by_one(dn, name, ldap3.MODIFY_ADD, chunk, failed)
                    if ok and len(failed) - before == len(chunk):
                        continue  # nothing went in: the placeholder stays
                if ok and placeholder:
                    self._conn.modify(dn, {name: [(ldap3.MODIFY_DELETE, [placeholder])]})
            else:
                ok = self._conn.modify(dn, {name: [(ldap3.MODIFY_DELETE, chunk)]})
                if not ok and self._code() == _OBJECT_CLASS_VIOLATION and placeholder:
                    # The last members go: the placeholder keeps the entry valid.
                    ok = self._conn.modify(
                        dn,
                        {name: [(ldap3.MODIFY_ADD, [placeholder]), (ldap3.MODIFY_DELETE, chunk)]},
                    )
                if not ok and self._code() in _ONE_BY_ONE[ldap3.MODIFY_DELETE]:
                    ok = self._one_by_one(dn, name, ldap3.MODIFY_DELETE, chunk)
            if not ok:
                what = f"{change.op.value} {name!r} of {dn!r}"
                if change.op is ChangeOp.ADD:
                    return self._refused(settings, what)
                return self._failure(what)
        return None

    def _refused(self, settings: LdapGroups | LdapEntities, what: str) -> WriteOutcome:
        """The failure of a write of values; says what to set when a class was missing."""
        outcome = self._failure(what)
        if self._code() == _OBJECT_CLASS_VIOLATION and not settings.auxiliary_classes:
            return WriteOutcome.failure(
                f"{outcome.error}; an entry another system made may lack the auxiliary "
                "class the attribute needs: see auxiliary_classes"
            )
        return outcome

    def _modified(
        self,
        settings: LdapGroups | LdapEntities,
        dn: str,
        modification: dict[str, list[tuple[str, list[Scalar]]]],
    ) -> bool:
        """Send a modify that adds values; refused for want of a class, add the classes and resend.

        An entry made by another system (a person from the identity system)
        may lack the auxiliary class an attribute needs: the directory
        answers ``objectClassViolation``. The configured auxiliary classes
        that allow the modified attributes, as the directory's schema says
        (all of them when it shows none), are added (one already there is
        fine) and the modify is sent once more; its answer is the outcome.
        A violation no such class mends (a required ``sn`` emptied) adds
        none: the entry is left as it was.
        """
        if self._conn.modify(dn, modification):
            return True
        if self._code() != _OBJECT_CLASS_VIOLATION or not settings.auxiliary_classes:
            return False
        schema = self._schema
        allowing = _allowing(schema, settings.auxiliary_classes, modification)
        classes = list(settings.auxiliary_classes) if allowing is None else allowing
        if not classes:
            return False  # refused for another reason (a required attribute emptied, say)
        if not self._one_by_one(dn, "objectClass", ldap3.MODIFY_ADD, classes):
            return False  # the class's answer says why (it needs an attribute, say)
        log.info("gave %s the auxiliary classes %s", dn, ", ".join(classes))
        return bool(self._conn.modify(dn, modification))

    def _one_by_one(
        self,
        dn: str,
        name: str,
        op: str,
        values: Sequence[Scalar],
        failed: list[tuple[str, Scalar, str]] | None = None,
    ) -> bool:
        """Send values one at a time where the chunk failed on one there (or gone) already.

        A value there already (adds) or gone already (deletes) is fine: as
        OpenLDAP says it (``attributeOrValueExists``, ``noSuchAttribute``),
        and as Active Directory says it of a member (``entryAlreadyExists``,
        ``unwillingToPerform``), which a compare of the value confirms.
        With *failed* (adds), a value the directory refuses for itself (its
        syntax, a constraint, a member DN that names no entry) goes there as
        ``(attribute, value, why)``. ``False`` when it refuses one for
        another reason (the entry's, the connection's): the caller's failure.
        """
        adding = op == ldap3.MODIFY_ADD
        fine, maybe = (
            (_TYPE_OR_VALUE_EXISTS, _ENTRY_ALREADY_EXISTS)
            if adding
            else (_NO_SUCH_ATTRIBUTE, _UNWILLING_TO_PERFORM)
        )
        there: bool | None = None  # whether the entry is there, once asked
        for value in values:
            if self._conn.modify(dn, {name: [(op, [value])]}):
                continue
            code = self._code()
            if code == fine or (code == maybe and self._holds(dn, name, value) is adding):
                continue
            if failed is None or code not in _ADD_REFUSED:
                return False
            why = self._failure(f"add {name!r} value {value!r} to {dn!r}").error
            if code == _NO_SUCH_OBJECT:  # the entry's, or the value's (a member's DN)
                there = self._exists(dn) if there is None else there
                if not there:
                    return False
                why = f"{why}: the directory has no entry {value!r} to be a member"
            failed.append((name, value, why or "refused"))
        return True

    @contextlib.contextmanager
    def _aside(self) -> Iterator[None]:
        """Ask the directory something, keeping the answer to the write before for its failure."""
        result = self._conn.result
        try:
            yield
        finally:
            self._conn.result = result

    def _holds(self, dn: str, name: str, value: Scalar) -> bool | None:
        """Whether the entry has the value, as a compare says; ``None`` if it cannot say."""
        with self._aside():
            self._conn.compare(dn, name, wire_value(value))
            code = self._code()
        if code == _NO_SUCH_ATTRIBUTE:
            return False  # no value at all
        return {_COMPARE_TRUE: True, _COMPARE_FALSE: False}.get(code)

    def _exists(self, dn: str) -> bool:
        """Whether the directory has an entry *dn*."""
        return self._entry_dn(dn) is not None

    def _entry_dn(self, dn: str) -> str | None:
        """The DN of the entry *dn* as the directory gives it (a base search, no attributes).

        ``None``: no such entry.
        """
        with self._aside():
            self._conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["1.1"])
            entries = self._conn.entries
            if not entries or self._code() != 0:
                return None
            return str(entries[0].entry_dn)

    def _delete(self, kind: type[_OwnerT], beans: Sequence[_OwnerT]) -> list[WriteOutcome]:
        settings = self._settings(kind)
        outcomes: list[WriteOutcome] = []
        for bean in beans:
            dn = bean.id
            if self._conn.delete(dn) or self._code() == _NO_SUCH_OBJECT:
                outcomes.append(WriteOutcome.success())
                if isinstance(settings, LdapGroups) and settings.dn_style is DnStyle.BUSHY:
                    self._prune_folders(settings, dn)
            else:
                outcomes.append(self._failure(f"delete {dn!r}"))
        return outcomes

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        """Add group entries (bushy: their folders' OUs too)."""
        return self._guarded(
            f"add of {len(groups)} groups",
            lambda: self._writing(lambda: self._insert(ProvisioningGroup, groups)),
            retry=False,
        )

    def update_groups(
        self, updates: Sequence[tuple[ProvisioningGroup, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        """Modify group entries: a rename moves the entry (modify DN), members in chunks."""
        return self._guarded(
            f"update of {len(updates)} groups",
            lambda: self._writing(lambda: self._update(ProvisioningGroup, updates)),
            retry=False,
        )

    def delete_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        """Delete group entries (bushy: and the folders' OUs they leave empty)."""
        return self._guarded(
            f"delete of {len(groups)} groups",
            lambda: self._delete(ProvisioningGroup, groups),
            retry=False,
        )

    def insert_entities(self, entities: Sequence[ProvisioningEntity]) -> list[WriteOutcome]:
        """Add person entries."""
        return self._guarded(
            f"add of {len(entities)} people",
            lambda: self._insert(ProvisioningEntity, entities),
            retry=False,
        )

    def update_entities(
        self, updates: Sequence[tuple[ProvisioningEntity, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        """Modify person entries (entitlement values in chunks)."""
        return self._guarded(
            f"update of {len(updates)} people",
            lambda: self._update(ProvisioningEntity, updates),
            retry=False,
        )

    def delete_entities(self, entities: Sequence[ProvisioningEntity]) -> list[WriteOutcome]:
        """Delete person entries."""
        return self._guarded(
            f"delete of {len(entities)} people",
            lambda: self._delete(ProvisioningEntity, entities),
            retry=False,
        )


class _Refused(Exception):  # noqa: N818  # internal: becomes TargetUnavailable
    """The directory answered, and said no (StartTLS, the bind)."""


def _open_and_bind(conn: Any, *, start_tls: bool) -> None:  # noqa: ANN401  # an ldap3 connection
    """Open *conn*, upgrade it with StartTLS if asked, and bind; :class:`_Refused` if refused."""
    conn.open(read_server_info=False)
    if start_tls and not conn.start_tls(read_server_info=False):
        raise _Refused(conn.last_error or "the server refused StartTLS")
    if not conn.bind(read_server_info=True):
        result = conn.result or {}
        raise _Refused(
            f"the bind was refused: {result.get('description')}"
            f" ({result.get('result')}) {result.get('message') or ''}".rstrip()
        )


def _close(conn: Any) -> None:  # noqa: ANN401  # an ldap3 connection
    """Close what a failed connect left open: ldap3 keeps a socket it could not use."""
    with contextlib.suppress(Exception):
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _reason(exc: Exception) -> str:
    """ldap3's message of *exc*, without the tuple and quote wrapping it keeps."""
    text = str(exc)
    while text[:2] in {"('", '("'} and text[-3:] in {"',)", '",)'}:
        text = text[2:-3]
    return text


def _direct_adds(strategy: object) -> bool:
    """Whether *strategy* keeps its requests as the ldap3 2.9 asynchronous strategy does."""
    return isinstance(getattr(strategy, "_outstanding", None), dict) and callable(
        getattr(strategy, "_add_event_for_message", None)
    )


def _ca_problems(ca_file: str | None) -> list[ConfigProblem]:
    """A CA file that cannot be read as PEM certificates (ldap3 says only "invalid")."""
    if ca_file is None:
        return []
    try:  # as the connections will read it (OpenSSL's PEM reader: comments are fine)
        ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:
        why = f"{ca_file!r} holds no PEM certificate to check servers against ({exc.reason or exc})"
        return [ConfigProblem("ca_file", why)]
    except OSError as exc:
        return [ConfigProblem("ca_file", f"cannot read {ca_file!r}: {exc.strerror or exc}")]
    return []


def _problems(
    url: str, groups: LdapGroups | None, entities: LdapEntities | None, *, start_tls: bool
) -> Iterator[ConfigProblem]:
    given: tuple[object, object, object] = (url, groups, entities)  # whatever was passed
    urls: tuple[str, ...] = ()
    if isinstance(given[0], str):
        urls, problems = _urls(url)
        yield from problems
    else:
        yield ConfigProblem("url", f"expected ldap://host:port or ldaps://host:port, not {url!r}")
    kinds = (("groups", given[1], LdapGroups), ("entities", given[2], LdapEntities))
    wrong = [
        (path, value, kind) for path, value, kind in kinds if not isinstance(value, kind | None)
    ]
    for path, value, kind in wrong:
        # A dict failed with "'dict' object has no attribute 'base_dn'".
        # The value is not shown: a dict of LDAP settings may hold the password.
        yield ConfigProblem(path, f"takes {kind.__name__}(base_dn=...), not {type(value).__name__}")
    if wrong:
        return  # the checks below read the settings' fields
    if start_tls and any(u.startswith("ldaps://") for u in urls):
        yield ConfigProblem("start_tls", "ldaps:// is TLS already: StartTLS is for ldap://")
    if groups is None and entities is None:
        yield ConfigProblem("", "an LDAP target needs groups, entities or both")
    for path, settings in (("groups", groups), ("entities", entities)):
        if settings is None:
            continue
        try:
            if not split_dn(settings.base_dn):
                msg = "it is empty"
                raise ValueError(msg)  # noqa: TRY301  # reported as the others
        except ValueError as exc:
            yield ConfigProblem(f"{path}.base_dn", f"not a DN: {exc}")
    if groups is not None and groups.dn_style is DnStyle.BUSHY and not groups.path_attribute:
        yield ConfigProblem(
            "groups.path_attribute", "a bushy DN needs the attribute of the full Grouper name"
        )
    if groups is not None and groups.dn_style is DnStyle.FLAT and groups.path_attribute:
        # It is read back from the DN, which holds only the last part when flat:
        # the name would differ from Grouper's in every run, and never be written.
        yield ConfigProblem(
            "groups.path_attribute",
            "only for a bushy DN: a flat DN holds no folders to read the full name back from",
        )


_URL = re.compile(r"(ldaps?)://([^/\s]*)(/?)(.*)", re.IGNORECASE | re.DOTALL)


def _urls(url: str) -> tuple[tuple[str, ...], list[ConfigProblem]]:
    """The servers of *url* (one, or several separated by spaces), and what is wrong with it.

    Each becomes ``scheme://host[:port]``, the scheme in lower case (it is
    any case, as RFC 3986 says) and without the ``/`` an LDAP URL (RFC 4516)
    may end with; a DN, attributes or a filter after it are refused, as the
    target takes its base DNs from its settings.
    """
    found: list[str] = []
    problems: list[ConfigProblem] = []
    for one in url.split() or [url]:
        match = _URL.fullmatch(one)
        if match is None:
            problems.append(
                ConfigProblem("url", f"expected ldap://host:port or ldaps://host:port, not {one!r}")
            )
            continue
        scheme, host, _, rest = match.groups()
        if "@" in host:  # user:password@host: not shown, it may hold a password
            problems.append(
                ConfigProblem(
                    "url",
                    f"a {scheme}:// URL with a user part (user@host): give bind_dn and"
                    " password instead",
                )
            )
            continue
        if host.startswith("["):  # an IPv6 address
            name, close, after = host[1:].partition("]")
            port = after.removeprefix(":") if close and after.startswith(":") else None
            fine = bool(name and close) and (not after or bool(port and port.isdigit()))
        else:
            name, colon, port = host.partition(":")
            fine = bool(name) and (not colon or port.isdigit())
        if not fine:
            problems.append(
                ConfigProblem(
                    "url", f"{one!r}: expected host or host:port after // (IPv6 in [brackets])"
                )
            )
        elif rest:
            problems.append(
                ConfigProblem(
                    "url",
                    f"{one!r}: the part after the host ({rest!r}) is not used; the base DNs are"
                    " set in groups and entities",
                )
            )
        else:
            found.append(f"{scheme.lower()}://{host}")
    return tuple(found), problems


def _schema_problems(
    schema: Any,  # noqa: ANN401  # ldap3's SchemaInfo, or None
    groups: LdapGroups | None,
    entities: LdapEntities | None,
) -> Iterator[ConfigProblem]:
    """The attributes and object classes of the settings that the directory's schema lacks.

    Each would fail every entry it is written to (``undefinedAttributeType``,
    an object class ldap3 refuses), and an attribute that is read but not
    known is read as no value. A directory that does not show its schema is
    not checked: its answers say what it refuses.
    """
    types = getattr(schema, "attribute_types", None)
    classes = getattr(schema, "object_classes", None)
    if not types or not classes:
        return
    for path, settings in (("groups", groups), ("entities", entities)):
        if settings is None:
            continue
        named = [("rdn_attribute", settings.rdn_attribute)]
        named += [("attributes", n) for n in settings.attributes]
        named += [("multi_valued", n) for n in settings.multi_valued]
        kinds = [
            ("object_classes", settings.object_classes),
            ("auxiliary_classes", settings.auxiliary_classes),
        ]
        if isinstance(settings, LdapGroups):
            if settings.member_attribute:
                named.append(("member_attribute", settings.member_attribute))
            if settings.dn_style is DnStyle.BUSHY:
                kinds.append(("folder_object_classes", settings.folder_object_classes))
        for key, name in named:
            if name not in types:
                yield ConfigProblem(
                    f"{path}.{key}", f"{name!r} is not an attribute type of the directory's schema"
                )
        for key, names in kinds:
            for name in names:
                if name not in classes:
                    yield ConfigProblem(
                        f"{path}.{key}",
                        f"{name!r} is not an object class of the directory's schema",
                    )


def _allowing(
    schema: Any,  # noqa: ANN401  # ldap3's SchemaInfo, or None
    classes: Sequence[str],
    attributes: Iterable[str],
) -> list[str] | None:
    """Those of *classes* that allow one of *attributes*, through their superiors.

    An attribute counts by any of its names (``mail``, ``rfc822Mailbox``).
    ``None`` when the directory shows no schema: then it cannot be told.
    """
    types = getattr(schema, "attribute_types", None)
    known = getattr(schema, "object_classes", None)
    if not types or not known:
        return None
    wanted: set[str] = set()
    for attribute in attributes:
        info = types.get(attribute)
        wanted.update(n.lower() for n in (info.name if info is not None else [attribute]))

    def allows(name: str) -> bool:
        seen: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            info = known.get(current)
            if current.lower() in seen or info is None:
                continue
            seen.add(current.lower())
            allowed = [*(info.may_contain or ()), *(info.must_contain or ())]
            if any(a.lower() in wanted for a in allowed):
                return True
            todo.extend(info.superior or ())
        return False

    return [c for c in classes if allows(c)]


def _classes(settings: LdapGroups | LdapEntities) -> list[str]:
    """The classes of a new entry: its own, then the auxiliary ones it does not list."""
    classes = list(settings.object_classes)
    known = {c.lower() for c in classes}
    return classes + [c for c in settings.auxiliary_classes if c.lower() not in known]


def _missing_base(side: str, base: str) -> ConfigProblem:
    return ConfigProblem(
        f"{side}.base_dn",
        f"the directory has no entry {base!r}, or the bind DN may not see it: "
        "create it (the sync adds entries under it, never the base itself) or correct the setting",
    )


def _search_failure(where: str, code: int, message: str, read: int) -> str:
    """Why a search failed, in words; for a limit, which one to raise."""
    name = RESULT_CODES.get(code, "unknown result")
    text = f"search of {where!r} failed after {read} entries: {name} ({code})"
    text += f": {message}" if message else ""
    if code in _LIMITS:
        # A partial read would look like missing entries: the sync stops instead.
        text += (
            "; the directory limits what this bind may read in one search, and a"
            " sync must read every entry: raise the bind DN's limits (OpenLDAP:"
            " olcLimits with size=unlimited, or size.prtotal=unlimited for paged"
            " searches, and time=unlimited; Active Directory: MaxResultSetSize)"
        )
    return text


def _text(raw: bytes) -> str:
    """A value as text: UTF-8, as LDAP strings are; other bytes kept as surrogates, not lost."""
    return raw.decode("utf-8", "surrogateescape")


def _guid(raw: bytes) -> str:
    """An ``objectGUID`` as Windows writes it (``"5f1c...-...-..."``); not 16 bytes: as text."""
    if len(raw) != 16:  # noqa: PLR2004  # a GUID's size
        return _text(raw)
    return str(uuid.UUID(bytes_le=raw))


def _guid_bytes(text: str) -> bytes | None:
    """The bytes of a GUID in its text form (braces or none); ``None``: it is no GUID."""
    try:
        return uuid.UUID(text).bytes_le
    except ValueError:
        return None


def _sid(raw: bytes) -> str:
    """An ``objectSid`` in its text form (``"S-1-5-21-..."``); not a SID's bytes: as text."""
    if len(raw) < 8 or len(raw) != 8 + 4 * raw[1]:  # noqa: PLR2004  # a SID's header
        return _text(raw)
    authority = int.from_bytes(raw[2:8], "big")
    subs = (int.from_bytes(raw[i : i + 4], "little") for i in range(8, len(raw), 4))
    return "-".join(("S", str(raw[0]), str(authority), *map(str, subs)))


_BYTE = 0xFF
_SID = re.compile(r"[Ss]-([0-9]{1,3})-([0-9]{1,15})((?:-[0-9]{1,10}){0,15})")


def _sid_bytes(text: str) -> bytes | None:
    """The bytes of a SID in its text form; ``None``: it is no SID."""
    found = _SID.fullmatch(text)
    if found is None:
        return None
    revision, authority = int(found[1]), int(found[2])
    subs = [int(s) for s in found[3].split("-")[1:]]
    if revision > _BYTE or authority >= 1 << 48 or any(s >= 1 << 32 for s in subs):
        return None  # a field wider than its bytes
    head = bytes((revision, len(subs))) + authority.to_bytes(6, "big")
    return head + b"".join(s.to_bytes(4, "little") for s in subs)


# Active Directory's binary identifiers, by lower-case name: read as their
# usual text forms, searched for as their bytes. The directory writes them.
_BINARY_IDS: dict[str, tuple[Callable[[bytes], Scalar], Callable[[str], bytes | None]]] = {
    "objectguid": (_guid, _guid_bytes),
    "objectsid": (_sid, _sid_bytes),
}


def _integer(raw: bytes) -> Scalar:
    try:
        return int(raw)
    except ValueError:
        return _text(raw)


def _boolean(raw: bytes) -> Scalar:
    return True if raw == b"TRUE" else False if raw == b"FALSE" else _text(raw)


def _syntax(schema: Any, name: str) -> str | None:  # noqa: ANN401  # ldap3's SchemaInfo
    """The syntax OID of attribute *name* in *schema*, through its superiors."""
    types = getattr(schema, "attribute_types", None) or {}
    for _ in range(16):  # a chain of superiors longer than this is a broken schema
        info = types.get(name)
        if info is None:
            return None
        if info.syntax:
            return str(info.syntax).split("{", 1)[0]
        if not info.superior:
            return None
        name = info.superior[0]
    return None


def _decoder(schema: Any, name: str) -> Callable[[bytes], Scalar]:  # noqa: ANN401  # ldap3's SchemaInfo
    """How values of *name* are read: by its syntax in the directory's schema."""
    binary = _BINARY_IDS.get(name.lower())
    if binary is not None:
        return binary[0]
    syntax = _syntax(schema, name)
    if syntax == _INTEGER_SYNTAX:
        return _integer
    if syntax == _BOOLEAN_SYNTAX:
        return _boolean
    return _text


def _placeholder_reader(placeholder: str, canonical: Memo) -> Callable[[bytes], str]:
    """The member values' decoder that gives the placeholder as it is configured.

    The directory may give it back in another case (OpenLDAP writes the
    attribute types in lower case, Active Directory the entry's own case):
    it is still the placeholder, which a read leaves out of the members.
    Once per distinct value, as the canonical decoder.
    """
    folded = placeholder.casefold()

    def read(raw: bytes) -> str:
        dn = canonical[raw]
        return placeholder if dn.casefold() == folded else dn

    return Memo(read).__getitem__


def _canonical(dn: str) -> str:
    """A DN value in the canonical escaping; a value that is no DN as it is."""
    try:
        return canonical_dn(dn)
    except ValueError:
        return dn


def _parents(settings: LdapGroups, dn: str) -> list[str]:
    """The DNs between *dn* and the base DN, nearest first."""
    parts = split_dn(dn)
    base = len(split_dn(settings.base_dn))
    return [_join(parts[i:]) for i in range(1, len(parts) - base)]


def _answers(
    reader: MessageReader,
    message_id: int,
    take: Callable[[bytes, list[tuple[bytes, list[bytes]]]], None],
) -> SearchDone:
    """Read the answers to one search: each entry to *take*, then the search's end."""
    while True:
        answer, operation, data, at = reader.next()
        if answer != message_id:
            # Message 0 is the server's notice that it is closing the session.
            msg = f"message {answer} came while waiting for {message_id}"
            raise LdapProtocolError(msg)
        if operation == SEARCH_ENTRY:
            take(*search_entry(data, at))
        elif operation == SEARCH_DONE:
            return search_done(data, at)
        elif operation != SEARCH_REFERENCE:  # a referral is not followed
            msg = f"a search was answered with operation 0x{operation:02x}"
            raise LdapProtocolError(msg)


def _range_in(
    dn: bytes,
    name: bytes,
    ask: str,
    entry: list[tuple[bytes, list[bytes]]],
    readers: Mapping[bytes, tuple[str, Callable[[bytes], Scalar], bool]],
) -> tuple[bytes, list[bytes], int, int | None] | None:
    """The range of *name*'s values in the answer to *ask*: (its name, values, low, high)."""
    for raw_name, raw in entry:
        if raw_name.lower() == name:  # all of them, or some, but not said which
            msg = f"{_text(dn)}: asked for {ask!r}, the directory sent {_text(raw_name)!r}"
            raise LdapProtocolError(msg)
        part = _ranged(dn, raw_name, readers)
        if part is not None and part[0] == name:
            return raw_name, raw, part[1], part[2]
    return None


def _ranged(
    dn: bytes,
    raw_name: bytes,
    readers: Mapping[bytes, tuple[str, Callable[[bytes], Scalar], bool]],
) -> tuple[bytes, int, int | None] | None:
    """(name, low, high) of a read attribute sent in a range (``member;range=0-1499``).

    ``None`` for any other attribute or option (``cn;lang-en`` is the value
    of another attribute). A high of ``*`` (the last range) is ``None``.
    """
    name, _, options = raw_name.lower().partition(b";")
    if name not in readers or not options.startswith(b"range="):
        return None
    low, dash, high = options.removeprefix(b"range=").partition(b"-")
    if not (low.isdigit() and dash and (high.isdigit() or high == b"*")):
        msg = f"{_text(dn)}: {_text(raw_name)!r} is not a range of values"
        raise LdapProtocolError(msg)
    return name, int(low), None if high == b"*" else int(high)


def _rebased(dn: str, base: str) -> str:
    """*dn* with its base DN written as configured.

    The directory gives an entry's DN with its superiors as it keeps them,
    in whatever case they were added with (``ou=Groups``); the DNs
    grouperprov builds, and keeps as target links, end in the base DN as
    configured (``ou=groups``). The directory compares them without case:
    so does this, and the read DN ends as the built one does.
    """
    if dn.endswith(base):
        return dn  # the usual case: the same text
    cut = len(dn) - len(base)
    if cut > 0 and dn[cut - 1] == "," and dn[cut:].lower() == base.lower():
        return dn[:cut] + base
    return dn


def _same_place(new_dn: str, dn: str) -> bool:
    """Whether *new_dn* names *dn* with the same RDN value, case and all.

    The superior DN compares without case, as the directory compares it
    (the configured base DN may be written in another case than the
    directory's); the RDN's value exactly: a rename from ``Staff`` to
    ``staff`` is a modify DN, as the RDN's value changes by no other
    operation.
    """
    if new_dn.lower() != dn.lower():
        return False
    new_rdn, old_rdn = split_dn(new_dn)[0], split_dn(dn)[0]
    return [(a.lower(), v) for a, v in new_rdn] == [(a.lower(), v) for a, v in old_rdn]


def _keeps_rdn(dn: str, name: str, value: AttributeValue, *, fold: bool = False) -> bool:
    """Whether replacing *name* with *value* keeps the value *dn*'s RDN names.

    Then the replace can be sent: it takes away values the entry has besides
    its RDN's (a second ``cn`` added by hand), which a rename alone leaves.
    With *fold*, values that differ in case only count as the RDN's.
    """

    def form(text: str) -> str:
        return text.casefold() if fold else text

    wanted = {form(str(v)) for v in _items(value)}
    return any(a.lower() == name.lower() and form(v) in wanted for a, v in split_dn(dn)[0])


def _split_first(dn: str) -> tuple[str, str, str]:
    """(first RDN, ",", the rest) of *dn*, escaped canonically."""
    parts = split_dn(dn)
    return _join(parts[:1]), ",", _join(parts[1:])


def _join(rdns: Sequence[Sequence[tuple[str, str]]]) -> str:
    return ",".join("+".join(f"{a}={escape_dn_value(v)}" for a, v in rdn) for rdn in rdns)


def _single(value: AttributeValue) -> Scalar | None:
    if isinstance(value, frozenset):
        return next(iter(value)) if len(value) == 1 else None
    return value


def _items(value: AttributeValue) -> frozenset[Scalar]:
    if value is None:
        return frozenset()
    if isinstance(value, frozenset):
        return value
    return frozenset((value,))


def _sent(values: Iterable[Scalar]) -> list[Scalar]:
    """Values as the directory is sent them, in a stable order (booleans as ``TRUE``/``FALSE``).

    The empty string is left out: it means "no value" to the engine (it
    compares as absent), and a directory refuses it for most syntaxes
    (``description: value #0 invalid per syntax``), which kept the whole
    entry out.
    """
    return sorted([v if type(v) is str else wire_value(v) for v in values if v != ""])


def _chunks(values: Sequence[Scalar], size: int) -> Iterator[list[Scalar]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _id(bean: Owner) -> str:
    return str(bean.id)
