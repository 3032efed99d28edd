"""Chunk functions for the parallel tests: importable by worker processes."""

import os
import sys
import time


def square_slowly(delay: float, _index: int, chunk: list[int]) -> list[tuple[int, int, int]]:
    """(item, item², pid) after `delay` seconds per chunk: long enough for the pool to start."""
    time.sleep(delay)
    return [(item, item * item, os.getpid()) for item in chunk]


def fail_on(bad: int, _index: int, chunk: list[int]) -> list[int]:
    if bad in chunk:
        raise ValueError(f"item {bad} failed")
    return chunk


def imported(module: str) -> bool:
    """Whether this (worker) process has imported `module`."""
    return module in sys.modules
