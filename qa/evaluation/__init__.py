"""Evaluation, beside the pipeline: gold sets and public benchmarks in, accuracy, retrieval and abstention figures out.
"""
