"""promhub.tsdb"""
