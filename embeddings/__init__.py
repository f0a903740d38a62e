"""Text-to-vector retrieval primitives: encoder, vector index, lexical index, exact lane, fusion.

A plain library: it never imports the app or FastAPI, so it can be used and tested alone.
"""
