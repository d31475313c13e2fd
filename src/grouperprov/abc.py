"""What integrators implement: the target DAO and the types of its contract."""

from __future__ import annotations

from ._target import (
    AttributeChange,
    Capabilities,
    ChangeOp,
    Operation,
    TargetDAO,
    TargetData,
    WriteOutcome,
)

__all__ = [
    "AttributeChange",
    "Capabilities",
    "ChangeOp",
    "Operation",
    "TargetDAO",
    "TargetData",
    "WriteOutcome",
]
