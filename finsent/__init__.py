"""finsent: real-time financial sentiment monitoring (shared contract, config, CLI, daemon)."""

__version__ = "0.1.0"
