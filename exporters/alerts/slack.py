"""The Slack sink: slack-sdk's ``WebhookClient`` (incoming webhook) or ``WebClient``
(bot token + channel, ``chat.postMessage``). slack-sdk is imported on the first send.

slack-sdk's own retry handlers are switched off: the delivery worker's ``RetryPolicy`` decides
about retries, and a 429's ``Retry-After`` (``drift.retry.retry_after_seconds``) is handed to it
as the minimum wait.

The message is built by ``drift.alerting.slack_blocks`` (outside text escaped); link and media
previews are switched off, so no URL in an alert's text is fetched or shown as a preview.
"""

from __future__ import annotations

import logging
from typing import Any

from drift.alerting import slack_blocks
from drift.alerting.notification import Notification
from drift.alerting.ports import SinkDeliveryError
from drift.config import SlackConfig
from drift.retry import retry_after_seconds

log = logging.getLogger(__name__)

# HTTP statuses of the webhook API that no retry can fix
PERMANENT_STATUS = frozenset({400, 401, 403, 404, 410})
# Web API errors that no retry can fix (https://api.slack.com/methods/chat.postMessage#errors)
PERMANENT_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_arguments",
        "missing_scope",
        "no_permission",
    }
)


class SlackSink:
    def __init__(self, config: SlackConfig) -> None:
        self.config = config
        self._client: Any = None

    @property
    def channel(self) -> str:
        return "slack"

    def _import_error(self, exc: ImportError) -> SinkDeliveryError:
        return SinkDeliveryError(
            "slack", f"slack-sdk is not installed ({exc}): pip install slack-sdk", permanent=True
        )

    def send(self, notification: Notification) -> None:
        text = slack_blocks.text(notification)
        blocks = slack_blocks.blocks(notification)
        if self.config.webhook_url is not None:
            self._send_webhook(self.config.webhook_url, text, blocks)
        else:
            self._post_message(text, blocks)

    def _send_webhook(self, url: str, text: str, blocks: list[dict[str, Any]]) -> None:
        if self._client is None:
            try:
                from slack_sdk.webhook import WebhookClient
            except ImportError as exc:
                raise self._import_error(exc) from None
            timeout = max(1, round(self.config.timeout_seconds))
            self._client = WebhookClient(url, timeout=timeout, retry_handlers=[], logger=log)
        try:
            response = self._client.send(
                text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except Exception as exc:  # urllib raises several kinds of OSError and ValueError
            raise SinkDeliveryError("slack", f"{type(exc).__name__}: {exc}") from None
        if response.status_code == 200:
            return
        raise SinkDeliveryError(
            "slack",
            f"HTTP {response.status_code}: {str(response.body)[:200]}",
            retry_after=retry_after_seconds(response.headers),
            permanent=response.status_code in PERMANENT_STATUS,
        )

    def _post_message(self, text: str, blocks: list[dict[str, Any]]) -> None:
        try:
            from slack_sdk import WebClient
            from slack_sdk.errors import SlackApiError
        except ImportError as exc:
            raise self._import_error(exc) from None
        if self._client is None:
            timeout = max(1, round(self.config.timeout_seconds))
            self._client = WebClient(
                token=self.config.token,
                base_url=self.config.api_url,
                timeout=timeout,
                retry_handlers=[],
                logger=log,
            )
        try:
            self._client.chat_postMessage(
                channel=self.config.channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            response = exc.response
            error = str(response.get("error", "")) if response is not None else ""
            status = response.status_code if response is not None else 0
            raise SinkDeliveryError(
                "slack",
                f"HTTP {status}: {error or 'error'}",
                retry_after=retry_after_seconds(response.headers if response is not None else None),
                permanent=error in PERMANENT_ERRORS,
            ) from None
        except Exception as exc:
            raise SinkDeliveryError("slack", f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._client = None
