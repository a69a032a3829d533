"""Median time of Python safetensors' load_file on one file, in milliseconds.

Usage: python_load.py FILE RUNS (run by examples/load_speed.rs when
LOAD_SPEED_PYTHON names a Python with safetensors and numpy).
"""
import statistics
import sys
import time

from safetensors.numpy import load_file

path, runs = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(max(runs, 1)):
    start = time.perf_counter()
    tensors = load_file(path)
    total = sum(t.nbytes for t in tensors.values())
    times.append(time.perf_counter() - start)
    del tensors
print(f"{statistics.median(times) * 1e3:.3f}")
