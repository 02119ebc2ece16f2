"""tai-labs: hands-on IT-support labs for the French TAI title, built and graded automatically."""

__version__ = "0.1.0"
