"""Alert delivery: one bounded queue and retrying worker per sink (``delivery``) in front of
the Slack (``slack``) and Kafka (``kafka``) sinks. A slow or dead sink never blocks ingestion;
every drop is counted."""
