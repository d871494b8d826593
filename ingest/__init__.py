"""Feed sources, normalisation, deduplication and the Kafka producer (stage 1)."""
