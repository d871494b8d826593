"""The index stage: scored items into Elasticsearch."""
