"""The ``faastrain`` command line."""
