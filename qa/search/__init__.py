"""Search: a question in, its analysis (place, period, years, kind, terms) and a ranked list of passages out.
"""
