"""scikit-learn's diabetes data set as both evidently parity suites use it (real data in raw
units): ``test_parity_evidently.py`` and ``test_parity_methods.py`` split it into reference and
current their own way."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes

DIABETES_NUMERICAL = ["age", "bmi", "bp", "s1", "s5", "bp_class"]
DIABETES_CATEGORICAL = ["sex", "obese", "age_band"]


def diabetes(rng: np.random.Generator) -> pd.DataFrame:
    """The 442 patients with derived columns of the kinds the parity needs: an int categorical
    (sex), string categoricals with 2 and 5 values, a numerical column with 4 values, and NaN /
    inf in numerical columns (their cells drawn from ``rng``)."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].astype(int)
    frame["obese"] = np.where(frame["bmi"] >= 30.0, "yes", "no")
    frame["age_band"] = pd.cut(
        frame["age"], [0, 30, 40, 50, 60, 100], labels=["<30", "30s", "40s", "50s", "60+"]
    ).astype(str)
    frame["bp_class"] = np.digitize(frame["bp"], [80.0, 95.0, 110.0]).astype(float)
    frame.loc[rng.random(len(frame)) < 0.04, "bmi"] = np.nan
    frame.loc[rng.random(len(frame)) < 0.02, "s5"] = np.inf
    frame.loc[rng.random(len(frame)) < 0.02, "s1"] = -np.inf
    return frame
