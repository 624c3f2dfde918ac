"""promhub.server"""
