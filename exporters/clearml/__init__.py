"""Opt-in reporting of each evaluation to ClearML as scalars of one monitor Task per model,
sent by a bounded worker off the request path."""
