"""FailingTarget: any target DAO, with writes that fail on demand."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from grouperprov._beans import ProvisioningEntity, ProvisioningGroup, ProvisioningMembership
from grouperprov._closing import Closing
from grouperprov._target import Capabilities, Operation, TargetDAO, WriteOutcome

from ._memory import InjectedFailure, injected

__all__ = ["FailingTarget"]

Bean = ProvisioningGroup | ProvisioningEntity | ProvisioningMembership

# The write operations, by kind: bulk ones report a failure per object, the
# others raise. replace_group_memberships writes a group's whole list at once.
_BULK_WRITES = frozenset(
    op.value
    for op in Operation
    if op.value.split("_")[0] in {"insert", "update", "delete"} and op.value.endswith("s")
)
_SINGLE_WRITES = frozenset(
    op.value
    for op in Operation
    if op.value.split("_")[0] in {"insert", "update", "delete", "replace"}
    and op.value not in _BULK_WRITES
)


class FailingTarget(Closing, TargetDAO):
    """A target DAO around another one, whose writes fail on demand.

    For tests of how a sync recovers when the target refuses writes: with
    your configuration, against your own target or a built-in one on a
    real server. Each object a write would send is first offered to
    *fail*; a bulk write then reports a failure for the objects it picked
    and sends the others to *target* in one call, in order, and a single
    write raises :class:`InjectedFailure`. Reads, capabilities and any
    other attribute of *target* pass through as they are; a ``with`` block
    closes *target* at its end.

    Args:
        target: The DAO the writes that do not fail go to.
        fail: Called with the operation's name (``"insert_groups"``,
            ``"update_entity"``, ...) and the object: for an update the
            object as read, for ``replace_group_memberships`` the group.
            ``True`` makes that object's write fail.

    Attributes:
        target: The wrapped DAO.
        failures: Each failure injected so far, as ``(operation, object id)``.
    """

    def __init__(
        self,
        target: TargetDAO,
        fail: Callable[
            [str, ProvisioningGroup | ProvisioningEntity | ProvisioningMembership], bool
        ],
    ) -> None:
        self.target = target
        self._fail = fail
        self.failures: list[tuple[str, Hashable]] = []

    def __repr__(self) -> str:
        return f"FailingTarget({self.target!r})"

    def capabilities(self) -> Capabilities:
        """The wrapped target's capabilities."""
        return self.target.capabilities()

    def close(self) -> None:
        """Close the wrapped target, if it holds anything to close (also: ``with``)."""
        close = getattr(self.target, "close", None)
        if callable(close):
            close()

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401  # whatever the wrapped target has
        # Only called for what this class lacks: the wrapped target's own extras.
        if name == "target":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.target, name)

    def _fails(self, operation: str, bean: Bean) -> bool:
        if self._fail(operation, bean):
            self.failures.append((operation, bean.id))
            return True
        return False

    def _bulk(self, operation: str, items: Sequence[Any]) -> list[WriteOutcome]:
        """Send the items that do not fail in one call; a failure for each of the others."""
        failing = [self._fails(operation, _bean_of(item)) for item in items]
        sent = [item for item, failed in zip(items, failing, strict=True) if not failed]
        reported = iter(getattr(self.target, operation)(sent) if sent else ())
        outcomes: list[WriteOutcome] = []
        for item, failed in zip(items, failing, strict=True):
            if failed:
                outcomes.append(WriteOutcome.failure(injected(operation, _bean_of(item))))
            else:
                outcomes.append(next(reported))
        return outcomes

    def _single(self, operation: str, bean: Bean, *rest: Any) -> Any:  # noqa: ANN401  # the DAO's answer
        if self._fails(operation, bean):
            raise InjectedFailure(injected(operation, bean))
        return getattr(self.target, operation)(bean, *rest)


def _bean_of(item: Any) -> Bean:  # noqa: ANN401  # a bean, or (bean, changes)
    return item[0] if isinstance(item, tuple) else item  # type: ignore[no-any-return]  # a bean


def _reading(name: str) -> Callable[..., Any]:
    def method(self: FailingTarget, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401  # as the DAO's
        return getattr(self.target, name)(*args, **kwargs)

    return method


def _bulk_writing(name: str) -> Callable[..., Any]:
    def method(self: FailingTarget, items: Sequence[Any]) -> list[WriteOutcome]:
        return self._bulk(name, items)

    return method


def _single_writing(name: str) -> Callable[..., Any]:
    def method(self: FailingTarget, bean: Bean, *rest: Any) -> Any:  # noqa: ANN401  # as the DAO's
        return self._single(name, bean, *rest)

    return method


# Every operation of TargetDAO goes to the wrapped target (TargetDAO's own
# would refuse them): the writes through the failure check.
for _operation in Operation:
    _name = _operation.value
    if _name in _BULK_WRITES:
        _method = _bulk_writing(_name)
    elif _name in _SINGLE_WRITES:
        _method = _single_writing(_name)
    else:
        _method = _reading(_name)
    _method.__name__ = _name
    _method.__doc__ = getattr(TargetDAO, _name).__doc__
    setattr(FailingTarget, _name, _method)
