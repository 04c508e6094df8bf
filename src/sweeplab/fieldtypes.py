"""Field types of the study schema: no silent conversions.

- :data:`Int`: an integer; ``true``/``false`` and ``1.5`` are refused (a bool is
  not an int in a study file, so ``epochs = true`` is a mistake, not 1 epoch).
- :data:`Float`: a finite number (an integer is accepted); ``inf``, ``nan`` and
  booleans are refused.
- :data:`Bool`: ``true`` or ``false`` only.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AllowInfNan, Strict, StrictBool

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), AllowInfNan(False)]
Bool = StrictBool

SEED_MAX = 2**32 - 1  # seeds are unsigned 32-bit (NumPy/JAX key material; they fit SQLite's INTEGER)
MAX_WIDTH = 10**12    # larger layer sizes overflow shape arithmetic; the memory check refuses far less
