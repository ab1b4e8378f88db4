"""Bytes that arrive -> typed batches: JSON bodies (``jsonbody``), the samples route's payload
(``samples``), the labels route's payload (``labels``), CloudEvents parsing (``cloudevents``)
and the table where a CloudEvent request waits for its response (``pairing``).

May import: ``drift.core``, ``drift.config``, ``drift.errors``/``drift.ports`` and parsers such
as orjson. Not the web framework or the service: the service hands these modules the bytes.
"""
