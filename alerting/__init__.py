"""Windowed statistics, surge detection, alert storage and delivery (stage 3)."""
