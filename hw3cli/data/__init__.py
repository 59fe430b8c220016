"""Data readers and converters. Never prints."""
