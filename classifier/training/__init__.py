"""Fine-tuning, packing, soups, int8 calibration and precision checks, evaluation, the model card.

Training builds on the serving modules of ``classifier`` (a model is scored as it is served),
never the other way round: only the command wiring (``classifier.cli``) imports this package,
inside the commands.
"""
