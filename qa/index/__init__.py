"""Index: Documents, passages and commitments in; on disk a FAISS/BM25/SQLite index with its tokenizer's terms and the corpus's places out, loaded as one `Index` object that owns them.
"""
