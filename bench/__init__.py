"""Benchmarks (issue #6): latency, build time, memory and scaling beside a floor and a peer."""
