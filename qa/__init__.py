"""Question answering over Chinese local-government planning documents, with citations."""

__version__ = "0.1.0"
