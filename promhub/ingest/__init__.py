"""Push ingestion: the paths by which others send samples to promhub (Pushgateway API,
remote_write receiver, OTLP metrics receiver)."""
