"""The one retry policy of every sender (the drift client, alert delivery, the ClearML
reporter). It lives in ``drift.client.retry`` because the client is also installed alone
(``drift-sidecar-client``, docs/client.md); the server's senders import it from here."""

from drift.client.retry import RETRYABLE_STATUS, RetryPolicy, retry_after_seconds

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "retry_after_seconds"]
