"""promhub.instrument"""
