"""mathforge: a versioned pipeline that builds math-reasoning training data and trains on it."""

__version__ = "0.1.0"
