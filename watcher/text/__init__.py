"""Text shared by every stage.

Normalisation for matching, HTML fragments to text, the plain-text document
format, URL spelling.
"""
