"""The BERT topic + sentiment classifier, its Kafka consumer, training and evaluation (stage 2)."""
