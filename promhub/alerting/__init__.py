"""promhub's built-in alert manager: Alertmanager's config, routing, grouping,
inhibition, silences and time intervals, as a library the server wires up."""
