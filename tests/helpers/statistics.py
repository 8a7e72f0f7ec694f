"""statsmodels' OLS and WLS answers under the service's field names, the reference of the
statistics tests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import statsmodels.api as sm

__all__ = ["statsmodels_answer"]


def statsmodels_answer(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], w: np.ndarray[Any, Any] | None, level: float
) -> dict[str, Any]:
    """statsmodels' OLS (WLS with weights) answer under our field names."""
    design = sm.add_constant(x, has_constant="add")
    model = sm.OLS(y, design) if w is None else sm.WLS(y, design, weights=w)
    fit = model.fit()
    ci = fit.conf_int(alpha=1 - level)
    return {
        "m": fit.params[1],
        "b": fit.params[0],
        "r2": fit.rsquared,
        "adjusted_r2": fit.rsquared_adj,
        "residual_std_error": math.sqrt(fit.scale),
        "stderr_m": fit.bse[1],
        "stderr_b": fit.bse[0],
        "t_m": fit.tvalues[1],
        "t_b": fit.tvalues[0],
        "p_m": fit.pvalues[1],
        "p_b": fit.pvalues[0],
        "f_statistic": fit.fvalue,
        "f_p_value": fit.f_pvalue,
        "ci_m": tuple(ci[1]),
        "ci_b": tuple(ci[0]),
    }
