"""Push ingestion: data that clients send to promhub (Pushgateway API, remote_write, OTLP)."""
