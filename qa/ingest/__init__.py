"""Ingest: corpus files in, repaired llama-index Documents with catalog metadata and heading-path TextNodes out.

reading (bytes → raw text) → loading (repair steps, catalog) → tables (indicator tables as rows) → headings/chunking (heading-path passages).
"""
