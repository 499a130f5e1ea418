"""The figures each page draws, one module per page's concept; ui/figures.py holds what they share."""
