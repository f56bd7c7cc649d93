"""Cluster mode: the devices' MQTT traffic in a replicated, partitioned JetStream log (NATS),
consumed by groups of ingest workers and rules engines (docs/scale.md)."""
