"""promhub.api"""
