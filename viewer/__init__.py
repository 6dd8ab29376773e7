"""cpuload-viewer: serves the CPU load history read-only as a page, SVG charts and JSON."""
