"""Escaping values for LDAP: DN attribute values (RFC 4514) and search filters (RFC 4515).

Values from Grouper or from configuration are never pasted into a DN or a
filter as they are: ``a,b+c*)(uid=*`` must name one group and widen no search.
"""

from __future__ import annotations

import re

__all__ = ["canonical_dn", "escape_dn_value", "escape_filter_value", "split_dn"]

_DN_SPECIAL = frozenset('\\"+,;<>=#')

# A DN already in the canonical form: each RDN part "attribute=value", the
# attribute without spaces, the value without the special characters, control
# characters, or a leading or trailing space (the value may be empty). Most
# DNs a directory gives back are like this, and canonical_dn() returns them as
# they are.
_ATTRIBUTE = r'[^\s\\"#<>;\x00-\x1f\x7f,+=]+'
_VALUE = (
    r'(?:[^ \\"#<>;\x00-\x1f\x7f,+=]'
    r'(?:[^\\"#<>;\x00-\x1f\x7f,+=]*[^ \\"#<>;\x00-\x1f\x7f,+=])?)?'
)
_PLAIN_DN = re.compile(f"{_ATTRIBUTE}={_VALUE}(?:[,+]{_ATTRIBUTE}={_VALUE})*")


# What escape_dn_value() changes: a special or control character anywhere, a
# leading "#" or space, a trailing space.
_NEEDS_ESCAPING = re.compile(r'[\\"+,;<>=#\x00-\x1f\x7f]|\A | \Z')


def escape_dn_value(value: str) -> str:
    r"""*value* escaped to stand as an attribute value in a DN (RFC 4514 section 2.4).

    The special characters ``\ " + , ; < > =`` and ``#`` (anywhere: strict
    parsers ask for it) are escaped with a backslash; so are a leading space
    and a trailing space. Control characters (NUL, tab, newline... DEL)
    become hex pairs (``\00``, ``\09``, ``\0A``): OpenLDAP drops a raw tab
    or newline at either end of a value, which would name another entry.
    """
    if not _NEEDS_ESCAPING.search(value):
        return value  # a uid, a plain name: most values
    out: list[str] = []
    last = len(value) - 1
    for index, char in enumerate(value):
        if char < " " or char == "\x7f":
            out.append(f"\\{ord(char):02X}")
        elif (
            char in _DN_SPECIAL or (index == 0 and char in "# ") or (index == last and char == " ")
        ):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def escape_filter_value(value: str) -> str:
    r"""*value* escaped to stand as an assertion value in a search filter (RFC 4515).

    ``*``, ``(``, ``)``, ``\`` and NUL become ``\2a``, ``\28``, ``\29``,
    ``\5c`` and ``\00``: a value can never add a wildcard or a clause.
    """
    table = {"\\": "\\5c", "*": "\\2a", "(": "\\28", ")": "\\29", "\x00": "\\00"}
    return "".join(table.get(char, char) for char in value)


def split_dn(dn: str) -> list[list[tuple[str, str]]]:
    r"""*dn*'s RDNs, first (leftmost) first, each a list of ``(attribute, value)`` pairs.

    Values come back unescaped (``\,`` and ``\2C`` alike give ``,``; hex pairs
    are UTF-8). ``cn=a+sn=b,ou=x`` gives ``[[("cn", "a"), ("sn", "b")], [("ou", "x")]]``.
    Spaces around the separators (``ou=people, dc=example``) are not part of
    any value, as RFC 2253 section 4 has parsers allow and directories store
    them (OpenLDAP gives ``ou=people,dc=example`` back); an escaped space
    (``\ `` or ``\20``) is.

    Raises:
        ValueError: *dn* is not a DN (an RDN without ``=``, a dangling ``\``).
    """
    rdns: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    attribute: str | None = None
    # The text read since the last separator, each piece with whether it was escaped.
    text: list[tuple[str, bool]] = []
    raw = bytearray()

    def flush_bytes() -> None:
        if raw:
            try:
                text.append((raw.decode("utf-8", errors="strict"), True))
            except UnicodeDecodeError:
                msg = f"hex escapes that are not UTF-8 in the DN {dn!r}"
                raise ValueError(msg) from None
            raw.clear()

    i = 0
    while i <= len(dn):
        char = dn[i] if i < len(dn) else ","
        if char == "\\" and i < len(dn):
            pair = dn[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):  # noqa: PLR2004
                raw.append(int(pair, 16))
                i += 3
                continue
            if i + 1 >= len(dn):
                msg = f"a dangling backslash at the end of {dn!r}"
                raise ValueError(msg)
            flush_bytes()
            text.append((dn[i + 1], True))
            i += 2
            continue
        flush_bytes()
        if char == "=" and attribute is None:
            attribute = "".join(piece for piece, _ in text).strip()
            text = []
        elif char in ",+":
            if not attribute:
                if i >= len(dn) and not current and not rdns and not _significant(text):
                    break  # the empty DN
                msg = f"an RDN without '=' in {dn!r}"
                raise ValueError(msg)
            current.append((attribute, _significant(text)))
            attribute, text = None, []
            if char == ",":
                rdns.append(current)
                current = []
        else:
            text.append((char, False))
        i += 1
    return rdns


def _significant(text: list[tuple[str, bool]]) -> str:
    """The value of *text*'s pieces without the unescaped spaces at either end."""
    start, end = 0, len(text)
    while start < end and text[start] == (" ", False):
        start += 1
    while end > start and text[end - 1] == (" ", False):
        end -= 1
    return "".join(piece for piece, _ in text[start:end])


def canonical_dn(dn: str) -> str:
    r"""*dn* with every value escaped the one way :func:`escape_dn_value` does.

    Directories may give a DN back in another, equivalent escaping (OpenLDAP
    writes ``\2C`` for ``\,``); the canonical form compares equal to the DN
    grouperprov builds.
    """
    if _PLAIN_DN.fullmatch(dn):
        return dn  # nothing to unescape or to escape: a member list is mostly such DNs
    return _rebuilt(dn)


def _rebuilt(dn: str) -> str:
    """*dn* split and put together again, each value escaped by :func:`escape_dn_value`."""
    return ",".join(
        "+".join(f"{attribute}={escape_dn_value(value)}" for attribute, value in rdn)
        for rdn in split_dn(dn)
    )
