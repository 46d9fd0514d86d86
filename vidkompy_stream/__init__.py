"""vidkompy-stream: overlay a foreground video onto the background video that contains it, streaming."""

__version__ = "0.1.0"
