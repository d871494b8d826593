"""The BERT topic + sentiment classifier and its Kafka stage (stage 2): serving.

Model loading, tokenisation, micro-batching, the engine and its precision (bf16, int8),
tickers and the consumer live here; ``classifier.training`` fine-tunes, packs, calibrates and
evaluates, and nothing that serves imports it.
"""
