"""sweeplab: neural-network studies as one file and one command."""

__version__ = "0.1.0"
