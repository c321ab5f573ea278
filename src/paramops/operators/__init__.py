"""Reference operators: the exact (slow) image operators the networks imitate."""

from paramops.operators.reference import reference
from paramops.operators.registry import OPERATORS, OperatorSpec, Param, get_operator, operators

__all__ = ["OPERATORS", "OperatorSpec", "Param", "get_operator", "operators", "reference"]
