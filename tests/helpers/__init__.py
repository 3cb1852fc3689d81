"""Helpers the test modules share; imported as ``helpers.NAME``, never from another test module."""
