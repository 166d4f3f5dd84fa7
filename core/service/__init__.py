"""Service: what the app and the CLI both call to change a library: background jobs, drops, deletes, rebuilds,
changes to judgments and the hybrid default (each refused to a reader and logged in audit.py), cost measurements
(costs.py: kept for an editor, measured but not kept for a reader), and the installation check (doctor.py)."""
