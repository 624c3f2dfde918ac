"""promhub.config"""
