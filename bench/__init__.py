"""Benchmarks (``make bench``): numbers the issue tracker asks for, measured on this machine."""
