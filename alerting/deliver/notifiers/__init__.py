"""One notifier class per webhook format; the format -> class table is ``formats.NOTIFIERS``."""
