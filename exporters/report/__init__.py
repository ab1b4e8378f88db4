"""The HTML drift report of ``GET /v1/models/{model}/report``, rendered by evidently from the
reference profile and the window (``report`` extra; imported on the first request)."""
