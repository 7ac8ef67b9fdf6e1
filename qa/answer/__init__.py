"""Answer: a question and its ranked passages in, a short cited extractive `Answer` (or an abstention) out.
"""
