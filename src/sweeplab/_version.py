"""The package version, in the bottom layer so that any module may read it
(``from sweeplab import __version__`` would import the public API above it)."""

__version__ = "0.1.0"
