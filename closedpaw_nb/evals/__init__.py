"""Evaluate answer quality on your own data: data sets, scorers and statistics."""
