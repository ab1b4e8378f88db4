"""Write the example data of the docs: ``reference.csv`` (training data of the example model
``credit-scoring``) and ``current.csv`` (production traffic in which ``age``, ``income`` and the
score drifted). Deterministic (fixed seeds); ``tests/docs/test_examples.py`` checks that the
committed files are what this script writes.

    .venv/bin/python docs/examples/generate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CITIES = ("paris", "lyon", "lille", "nantes")


def frame(seed: int, rows: int, drifted: bool) -> pd.DataFrame:
    """Rows of the example model: two numerical features, one categorical, the model's score."""
    rng = np.random.default_rng(seed)
    age = rng.normal(48.0 if drifted else 40.0, 10.0, rows).clip(18, 90).round()
    income = rng.lognormal(np.log(62_000 if drifted else 45_000), 0.4, rows).round(2)
    city = rng.choice(CITIES, size=rows, p=(0.4, 0.3, 0.2, 0.1))
    logit = 0.03 * (age - 40) + 0.00002 * (income - 45_000) + rng.normal(0.0, 0.3, rows)
    score = (1.0 / (1.0 + np.exp(-logit))).round(4)
    return pd.DataFrame({"age": age, "income": income, "city": city, "score": score})


def files() -> dict[str, str]:
    """File name -> content."""
    return {
        "reference.csv": frame(1, 1000, drifted=False).to_csv(index=False),
        "current.csv": frame(2, 500, drifted=True).to_csv(index=False),
    }


def main() -> int:
    for name, text in files().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
