"""The one exception tree of sweeplab.

Every error sweeplab raises on purpose derives from :class:`SweeplabError`;
the CLI catches only that root, so anything else (a ``ValueError`` from a
shape bug inside JAX, a ``KeyError`` in our own code) is shown as the bug it
is, with its traceback. ``sweeplab --debug ...`` shows the traceback of a
sweeplab error too.

Two branches decide the CLI's exit code:

* :class:`UserError` (also a ``ValueError``, so code that validates with
  ``except ValueError`` keeps working): the user's input is wrong or not
  usable as it is: a study file, a CLI option, a name unknown to a registry,
  a data file whose format or checksum is wrong, a damaged results store.
  One line, exit code 2.
* :class:`MachineError`: the machine is in the way (disk full, read-only
  folder, I/O error); nothing is wrong with the input, run the same command
  again once it is fixed. One line, exit code 1.

The concrete classes live where they are raised and subclass these:

=====================================  ==================================
``sweeplab.spec.errors.StudyError``    a study file (``UserError``)
``sweeplab.vocab.registry.UnknownNameError``  a name no registry knows
``sweeplab.vocab.params.InvalidParamError``   a parameter value refused
``sweeplab.data.formats.FormatError``  a data file's content
``sweeplab.data.download.ChecksumError``, ``DownloadError``  data files
``sweeplab.store.StoreError``          a results store (``UserError``)
``sweeplab.store.StoreEnvironmentError``  disk full, read-only (``MachineError``)
=====================================  ==================================
"""

from __future__ import annotations

__all__ = ["SweeplabError", "UserError", "MachineError", "exit_code"]


class SweeplabError(Exception):
    """Root of every error sweeplab raises on purpose (one line, no traceback in the CLI)."""


class UserError(SweeplabError, ValueError):
    """The user's input is wrong: the message names the file or field, the value and what is accepted.

    The CLI prints it as one line and exits with code 2.
    """


class MachineError(SweeplabError):
    """The machine is in the way (disk full, read-only, I/O error); the CLI exits with code 1."""


def exit_code(exc: BaseException) -> int:
    """The CLI's exit code for a sweeplab error: 1 for :class:`MachineError`, 2 otherwise."""
    return 1 if isinstance(exc, MachineError) else 2
