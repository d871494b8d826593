"""The local Kafka + Elasticsearch stack for development, tests, CI and `make run`."""
