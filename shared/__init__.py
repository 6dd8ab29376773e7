"""Code both cpuload programs use: the schema, the settings and time handling."""

__version__ = "0.1.0"
