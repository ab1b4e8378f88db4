"""Tests of drift.core: the statistics against scipy, evidently, scikit-learn and statsmodels."""
