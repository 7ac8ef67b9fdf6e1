"""Ingest: corpus files in, repaired llama-index Documents with catalog metadata and heading-path TextNodes out.

reading (bytes → raw text) → loading (repair steps) → catalog (catalog.json, else inferred: title, place in the gazetteer (divisions + the corpus's own places)'s hierarchy, kind, date, period) → tables (indicator tables as rows) → headings/chunking (heading-path passages).
"""
