"""Guided lessons: Markdown files in lessons/ (format.py), whose questions are answered from the live
model (measures.py)."""
