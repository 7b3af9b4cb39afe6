"""``replace``: ``dataclasses.replace`` for the folds' frozen, slotted states, several times faster.

The folds build a new state for almost every event, and ``dataclasses.replace`` is most of the
cost of doing so: it reads every field into keyword arguments and runs the frozen ``__init__``,
which sets each field through ``object.__setattr__``. For a slotted dataclass with no
``__post_init__`` and every field in ``__init__``, copying the slots and setting the changed
ones gives an equal object, so that is what is done here, by code generated once per class and
set of changed fields. Any other dataclass goes to ``dataclasses.replace`` itself. Same call,
same result, same ``TypeError`` for a field the class does not have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import MemberDescriptorType
from typing import Any, TypeVar

T = TypeVar("T")
UNKNOWN = "{cls}.__init__() got unexpected keyword arguments {names}"

_REPLACERS: dict[tuple[type, tuple[str, ...]], Callable[..., Any]] = {}


def replace(obj: T, /, **changes: Any) -> T:
    """As ``dataclasses.replace(obj, **changes)``."""
    key = (type(obj), tuple(changes))
    replacer = _REPLACERS.get(key)
    if replacer is None:
        replacer = _REPLACERS.setdefault(key, _replacer(*key))
    return replacer(obj, **changes)  # type: ignore[no-any-return]


def _fast(cls: type) -> bool:
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        return False
    initvar = dataclasses._FIELD_INITVAR  # type: ignore[attr-defined]  # replace() must be given those
    if any(f._field_type is initvar for f in cls.__dataclass_fields__.values()):  # type: ignore[attr-defined]
        return False
    return all(f.init and isinstance(getattr(cls, f.name, None), MemberDescriptorType)
               for f in dataclasses.fields(cls))


def _replacer(cls: type, changed: tuple[str, ...]) -> Callable[..., Any]:
    names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    if not set(changed) <= set(names) or any(n.endswith("__") for n in names) or not _fast(cls):
        # dataclasses.replace itself: the slow path, and its own errors for unknown fields
        return lambda obj, **changes: dataclasses.replace(obj, **changes)
    # Local names end in "__", which no field of ours does, so a field cannot shadow them.
    namespace: dict[str, Any] = {"new__": object.__new__, "cls__": cls}
    lines = [f"def replace(obj__, {', '.join(changed)}):", "    out__ = new__(cls__)"]
    for i, name in enumerate(names):
        namespace[f"set{i}__"] = getattr(cls, name).__set__  # the slot's own descriptor: no frozen check
        lines.append(f"    set{i}__(out__, {name if name in changed else f'obj__.{name}'})")
    lines.append("    return out__")
    exec("\n".join(lines), namespace)  # noqa: S102 - code built from the class's own field names
    return namespace["replace"]  # type: ignore[no-any-return]
