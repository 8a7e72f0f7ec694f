"""`quick_init` keeps the dataclass's constructor contract: signature, defaults, keyword-only
fields, `__post_init__`, frozenness, equality and hashing."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from service.core import FitOptions, FitResult, FitStatistics, Moments, OlsInference, Optimum
from service.core.frozen import quick_init


@quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class _Point:
    x: float
    y: float = 2.0
    label: str = dataclasses.field(default="p", kw_only=True)


def test_signature_defaults_and_keyword_only_fields_are_the_dataclass_ones() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Plain:
        x: float
        y: float = 2.0
        label: str = dataclasses.field(default="p", kw_only=True)

    quick = inspect.signature(_Point)
    plain = inspect.signature(Plain)
    assert [(p.name, p.kind, p.default) for p in quick.parameters.values()] == [
        (p.name, p.kind, p.default) for p in plain.parameters.values()
    ]
    assert _Point(1.0) == _Point(1.0, 2.0, label="p")
    assert (_Point(1.0, label="q").x, _Point(1.0, label="q").label) == (1.0, "q")
    with pytest.raises(TypeError):
        _Point(1.0, 2.0, "q")  # type: ignore[call-arg]  # label is keyword-only
    with pytest.raises(TypeError):
        _Point()  # type: ignore[call-arg]


def test_objects_stay_frozen_equal_and_hashable() -> None:
    point = _Point(1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 3.0  # type: ignore[misc]
    assert hash(point) == hash(_Point(1.0)) and repr(point) == "_Point(x=1.0, y=2.0, label='p')"


def test_post_init_runs() -> None:
    """Moments' __post_init__ turns sum_w = 0 (unweighted) into n."""
    assert Moments(10, 1.0, 2.0, 3.0, 1.0, 2.0, 0.1).sum_w == 10.0
    assert Moments(10, 1.0, 2.0, 3.0, 1.0, 2.0, 0.1, sum_w=4.0).sum_w == 4.0


@pytest.mark.parametrize(
    "cls", [FitOptions, FitResult, FitStatistics, Moments, OlsInference, Optimum]
)
def test_the_core_types_use_it_and_keep_their_fields(cls: type) -> None:
    assert vars(cls)["__init__"].__qualname__ == f"{cls.__qualname__}.__init__"
    names = list(inspect.signature(cls).parameters)
    assert names == [f.name for f in dataclasses.fields(cls)]


def test_refuses_what_it_cannot_reproduce() -> None:
    @dataclasses.dataclass
    class Mutable:
        x: float

    with pytest.raises(TypeError, match="not a frozen dataclass with slots"):
        quick_init(Mutable)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        x: list[float] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="only plain fields"):
        quick_init(Factory)
