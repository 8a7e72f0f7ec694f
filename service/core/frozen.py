"""A cheaper ``__init__`` for the core's frozen, slotted dataclasses.

A frozen dataclass sets each field with ``object.__setattr__(self, name, value)``, which
looks the name up in the class on every call: about 0.1 microseconds per field. The small
fit of one request builds seven such objects (about 75 fields), which made those lookups
several percent of its whole cost. `quick_init` gives a class an ``__init__`` with the same
signature (order, defaults, keyword-only fields, ``__post_init__``) that calls each slot's
own descriptor instead, looked up once when the class is made. The objects are the same:
frozen (assignment still raises ``FrozenInstanceError``), equal, hashed and printed as before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["quick_init"]

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass `cls` an ``__init__`` that sets its slots through
    their descriptors (see the module docstring); returns `cls`.

    Raises TypeError for a class that is not a frozen dataclass with slots, or has a field
    with a default factory or one that ``__init__`` does not take.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass with slots")
    namespace: dict[str, Any] = {}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.default_factory is not dataclasses.MISSING or not field.init:
            raise TypeError(f"{cls.__name__}.{field.name}: only plain fields are supported")
        name = field.name
        parameter = name
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            parameter = f"{name}=_default_{name}"
        (keyword if field.kw_only else positional).append(parameter)
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        body.append(f"    _set_{name}(self, {name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}) -> None:\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - generated from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__init__", init)  # noqa: B010 - a method, replaced on the class
    return cls
