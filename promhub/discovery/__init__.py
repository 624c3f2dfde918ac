"""promhub.discovery"""
