"""Tools for testing provisioners, targets and configurations.

- :class:`InMemoryTarget`: the reference target DAO, with every capability or a
  chosen subset, and failures on demand.
- :class:`FailingTarget`: any target DAO (yours, a built-in one on a real
  server), with writes that fail on demand, to test how a sync recovers.
- :class:`InMemorySource`: a Grouper registry in memory (folders, groups,
  subjects, memberships, provisioning markers, a change log).
- :func:`check_target_dao`: the contract every target DAO must keep, runnable
  from any test suite against your own DAO.
- :func:`check_sync_store`: the same for sync stores (records, atomic saves,
  failsafe, job lease, retention).
- :class:`PostgresServer`: a throw-away PostgreSQL server (``initdb`` and
  ``pg_ctl`` in a temporary folder, on 127.0.0.1) for tests of stores and
  targets; :class:`SlapdServer`, the same for OpenLDAP (``slapd`` with the
  schemas LDAP targets need); :exc:`ServerUnavailable` says why one cannot
  start here.
- ``grouperprov.testing.strategies``: Hypothesis strategies for beans and
  configurations; it needs the ``testing`` extra (``pip install grouperprov[testing]``).
"""

from __future__ import annotations

from ._check import TargetContractError, check_target_dao
from ._failing import FailingTarget
from ._memory import InjectedFailure, InMemoryTarget
from ._servers import PostgresServer, ServerUnavailable, SlapdServer
from ._source import InMemorySource
from ._store_check import StoreContractError, check_sync_store

__all__ = [
    "FailingTarget",
    "InMemorySource",
    "InMemoryTarget",
    "InjectedFailure",
    "PostgresServer",
    "ServerUnavailable",
    "SlapdServer",
    "StoreContractError",
    "TargetContractError",
    "check_sync_store",
    "check_target_dao",
]
