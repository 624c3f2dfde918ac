"""Push paths into storage: the Pushgateway API, the remote_write receiver, OTLP."""
