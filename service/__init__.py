"""Gradient-descent fitting service: fits y = m*x + b by gradient descent on the MSE."""

__version__ = "0.1.0"

__all__ = ["__version__"]
