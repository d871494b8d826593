"""Tools beside the stages: backtest, tail, report, Kibana import, generated traffic."""
