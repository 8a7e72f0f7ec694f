"""Double-double arithmetic for compiled code (Numba): a number as an unevaluated sum
hi + lo of two float64s with |lo| <= ulp(hi) / 2, about 106 significant bits.

The momentum optimizers' small path (`service.core.momentum`) raises a 7 x 7 iteration
matrix to powers in it. Built from the error-free transformations

    two_sum(a, b) = (s, e)       with s = fl(a + b) and s + e = a + b exactly (Knuth),
    two_product(a, b) = (p, e)   with p = fl(a b) and p + e = a b exactly (one fused
                                 multiply-add: e = fma(a, b, -p)),

which hold whenever nothing overflows (and, for the product, e is not below the
subnormal range). The operations follow Hida, Li and Bailey's QD library ("accurate"
addition, "sloppy" multiplication): relative error about 2^-104 for `add` and 2^-103 for
`multiply`. `dot` is Ogita, Rump and Oishi's Dot2 on double-double inputs: the products'
leading parts summed error-free, everything else in float64, so its error is about
2^-106 times the sum of |x_i y_i| plus 2^-53 times the (small) lower part.

`fma` is LLVM's ``llvm.fma.f64``: one rounding, whether the processor fuses it or the C
library computes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = [
    "add",
    "divide",
    "divide_double",
    "dot",
    "dot4",
    "fma",
    "inlined",
    "multiply",
    "scale",
    "two_product",
    "two_sum",
]

FloatArray = NDArray[np.float64]
Double = tuple[float, float]
"""(hi, lo)."""

inlined = njit(cache=True, error_model="numpy", inline="always")
"""As `service.core.kernels.compiled`, and inlined where called (a call costs more than
these few operations)."""


def _fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:  # (Numba's signature)
    signature = types.float64(types.float64, types.float64, types.float64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        double = ir.DoubleType()
        function = builder.module.declare_intrinsic(
            "llvm.fma", [double], ir.FunctionType(double, [double, double, double])
        )
        return builder.call(function, args)

    return signature, codegen


fma: Any = intrinsic(_fma)
"""fma(a, b, c): a b + c rounded once (compiled code only)."""


@inlined
def two_sum(a: float, b: float) -> Double:
    """(fl(a + b), its rounding error), exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@inlined
def _quick_two_sum(a: float, b: float) -> Double:
    """two_sum for |a| >= |b| (or a = 0)."""
    s = a + b
    return s, b - (s - a)


@inlined
def two_product(a: float, b: float) -> Double:
    """(fl(a b), its rounding error), exactly (unless the error is below float64's range)."""
    p = a * b
    return p, fma(a, b, -p)


@inlined
def add(a_hi: float, a_lo: float, b_hi: float, b_lo: float) -> Double:
    """a + b."""
    s, e = two_sum(a_hi, b_hi)
    t, f = two_sum(a_lo, b_lo)
    e += t
    s, e = _quick_two_sum(s, e)
    e += f
    return _quick_two_sum(s, e)


@inlined
def multiply(a_hi: float, a_lo: float, b_hi: float, b_lo: float) -> Double:
    """a b."""
    p, e = two_product(a_hi, b_hi)
    e += a_hi * b_lo + a_lo * b_hi
    return _quick_two_sum(p, e)


@inlined
def scale(a_hi: float, a_lo: float, b: float) -> Double:
    """a b for a float64 b."""
    p, e = two_product(a_hi, b)
    e += a_lo * b
    return _quick_two_sum(p, e)


@inlined
def divide(a: float, b: float) -> Double:
    """a / b for float64 a and b: the quotient q and (a - q b) / b, whose numerator is exact."""
    q = a / b
    return _quick_two_sum(q, fma(-q, b, a) / b)


@inlined
def divide_double(a_hi: float, a_lo: float, b: float) -> Double:
    """a / b for a float64 b."""
    q = a_hi / b
    remainder = fma(-q, b, a_hi) + a_lo  # a - q b: the first part exact
    return _quick_two_sum(q, remainder / b)


@inlined
def dot(x_hi: FloatArray, x_lo: FloatArray, y_hi: FloatArray, y_lo: FloatArray) -> Double:
    """sum_i x_i y_i over the length of x (Dot2; x_lo y_lo is below its error)."""
    s, lo = 0.0, 0.0
    for i in range(x_hi.size):
        a, b = x_hi[i], y_hi[i]
        p, e = two_product(a, b)
        s, t = two_sum(s, p)
        lo += t + (e + (a * y_lo[i] + x_lo[i] * b))
    return two_sum(s, lo)


@inlined
def dot4(
    x_hi: FloatArray, x_lo: FloatArray, i: int, y_hi: FloatArray, y_lo: FloatArray, j: int
) -> Double:
    """`dot` of x[i, :4] and y[j, :4] (2-d arrays), unrolled."""
    a, b = x_hi[i, 0], y_hi[j, 0]
    s, e = two_product(a, b)
    lo = e + (a * y_lo[j, 0] + x_lo[i, 0] * b)
    for c in range(1, 4):
        a, b = x_hi[i, c], y_hi[j, c]
        p, e = two_product(a, b)
        s, t = two_sum(s, p)
        lo += t + (e + (a * y_lo[j, c] + x_lo[i, c] * b))
    return two_sum(s, lo)
