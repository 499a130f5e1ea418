"""Imported first by ui/__init__.py: OpenMP threads that wait for work sleep instead of spinning.

torch's OpenMP threads spin for a while at every barrier by default. That only pays off when
they have the cores to themselves. A classroom server never does: other students' pages are
being drawn on other threads (plotly figures, tables, protobufs), and other programs share the
machine too. Spinning threads then fight the thread they wait for. On a busy 2-core machine,
20 tokens of the 124M model took 9.4 s with spinning threads and 0.8 s with passive ones, and a
512-token trace took 5.8 s against 2.1 s. libgomp reads the setting once, when torch is
imported, so this must run before gptcore is. A value already in the environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
