"""Commitments: passages in, typed plan commitments (targets, projects, responsibilities) out, stored in SQLite and searched by staff and by answering.
"""
