"""The alert stage: keys, windows, baselines, significance tests, rules, detectors."""
