"""cpuload-collector: samples whole-host CPU load and appends it to the SQLite database."""
