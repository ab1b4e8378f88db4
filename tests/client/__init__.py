"""Tests of drift.client: the client against a recording HTTP server, the middleware in an app."""
