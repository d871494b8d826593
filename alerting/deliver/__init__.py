"""The deliver stage: alert store, webhook outbox, dispatcher and notifiers."""
