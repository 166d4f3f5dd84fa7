"""Service: what the app and the CLI both call to change a library: background jobs, drops, deletes, rebuilds,
and the installation check (doctor.py)."""
