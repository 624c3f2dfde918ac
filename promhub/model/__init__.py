"""promhub.model"""
