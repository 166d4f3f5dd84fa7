"""Read: file bytes or paths in; `Document`s (text, pages, records) and per-file `ReadFailure`s out.

documents.py routes a file by its extension, formats.py parses each format, records.py splits JSON and JSONL
collections into one document per record, naming.py gives a batch's documents unique, stable names."""
