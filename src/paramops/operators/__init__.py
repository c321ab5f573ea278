"""Reference operators: the exact (slow) image operators the networks imitate.

``paramops.operators()`` returns the registry while ``paramops.operators`` stays
an ordinary subpackage: the module itself is callable.
"""

import sys
import types

from paramops.operators.reference import reference
from paramops.operators.registry import OPERATORS, OperatorSpec, Param, get_operator, operators

__all__ = ["OPERATORS", "OperatorSpec", "Param", "get_operator", "operators", "reference"]


class _CallableModule(types.ModuleType):
    def __call__(self, family=None) -> dict[str, OperatorSpec]:
        return operators(family)

    __call__.__doc__ = operators.__doc__


sys.modules[__name__].__class__ = _CallableModule
