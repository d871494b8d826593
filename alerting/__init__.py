"""Surge alerting (stage 3): index/ items to Elasticsearch, detect/ surges, deliver/ alerts.

``tools/`` holds what runs beside the stages (backtest, tail, report, Kibana import,
generated traffic); the stages never import it.
"""
